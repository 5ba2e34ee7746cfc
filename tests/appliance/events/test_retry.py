"""The retry policy: doubling waits from 10 s, capped at 12 h, jittered, about three days in all."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from appliance.events.retry import (
    BROKER_DELAY_LIMIT, FIRST_WAIT, GIVE_UP_AFTER, JITTER, LONGEST_WAIT, max_attempts, next_wait, nominal_wait,
    rides_on_broker,
)


def test_waits_double_from_the_first_until_the_cap() -> None:
    waits = [nominal_wait(n) for n in range(1, max_attempts())]
    assert waits[:4] == [FIRST_WAIT, FIRST_WAIT * 2, FIRST_WAIT * 4, FIRST_WAIT * 8]
    assert all(b == min(a * 2, LONGEST_WAIT) for a, b in zip(waits, waits[1:]))
    assert waits[-1] == LONGEST_WAIT


def test_all_the_waits_add_up_to_about_three_days_and_never_more() -> None:
    total = sum((nominal_wait(n) for n in range(1, max_attempts())), timedelta())
    assert GIVE_UP_AFTER - LONGEST_WAIT < total <= GIVE_UP_AFTER


def test_after_the_last_allowed_failure_the_delivery_is_given_up() -> None:
    rng = random.Random(7)
    assert next_wait(max_attempts() - 1, rng) is not None
    assert next_wait(max_attempts(), rng) is None


@pytest.mark.parametrize("failures", [1, 3, 9, 15])
def test_jitter_stays_within_its_band_and_spreads_the_waits(failures: int) -> None:
    rng = random.Random(failures)
    nominal = nominal_wait(failures)
    waits = [next_wait(failures, rng) for _ in range(200)]
    assert all(w is not None and nominal * (1 - JITTER) <= w <= nominal * (1 + JITTER) for w in waits)
    assert len(set(waits)) > 100  # receivers that failed together do not all come back at once


def test_short_waits_ride_on_the_broker_and_long_ones_are_parked() -> None:
    assert rides_on_broker(FIRST_WAIT) and rides_on_broker(BROKER_DELAY_LIMIT)
    assert not rides_on_broker(BROKER_DELAY_LIMIT + timedelta(seconds=1))
    with pytest.raises(ValueError):
        nominal_wait(0)
