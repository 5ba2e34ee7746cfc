"""When a failed delivery is tried again: pure policy, no I/O.

Exponential back-off with jitter from 10 s, each wait capped at 12 h, for about three days; then the
delivery is dead and waits for a person to re-send it. Waits up to `BROKER_DELAY_LIMIT` ride on the
broker's own delayed messages; longer ones are parked in the database for the sweeper, so a broker
restart or a week-long outage of the receiver loses nothing.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Final

FIRST_WAIT: Final = timedelta(seconds=10)
LONGEST_WAIT: Final = timedelta(hours=12)
GIVE_UP_AFTER: Final = timedelta(days=3)
BROKER_DELAY_LIMIT: Final = timedelta(minutes=5)
JITTER: Final = 0.25  # each wait is drawn from ±25 % around its nominal value


def nominal_wait(failures: int) -> timedelta:
    """The wait after the `failures`-th failure (1-based), before jitter."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    exponent = min(failures - 1, 32)  # 2**32 × 10 s is far past the cap already
    wait: timedelta = FIRST_WAIT * (1 << exponent)
    return min(wait, LONGEST_WAIT)


def max_attempts() -> int:
    """How many tries fit while the nominal waits add up to at most GIVE_UP_AFTER (18 with the values
    above: 17 waits, 2 d 22 h 45 min)."""
    waited, failures = timedelta(0), 0
    while waited + nominal_wait(failures + 1) <= GIVE_UP_AFTER:
        failures += 1
        waited += nominal_wait(failures)
    return failures + 1  # the try after the last wait


def next_wait(failures: int, rng: random.Random | None = None) -> timedelta | None:
    """How long to wait before the next try after `failures` failures, or None: give up (dead)."""
    if failures >= max_attempts():
        return None
    nominal = nominal_wait(failures)
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return timedelta(seconds=round(nominal.total_seconds() * spread, 3))


def rides_on_broker(wait: timedelta) -> bool:
    """Short waits are broker-delayed messages; longer ones are parked for the sweeper."""
    return wait <= BROKER_DELAY_LIMIT
