"""The booking-engine benchmark's quick mode on each engine: what must hold on any machine, never how fast."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from tests.bench import booking_engine
from tests.bench.booking_engine import COUNT_FIGURES, FIGURE_NAMES, QUICK

# Small enough for well under 30 s, large enough that every phase has real work and real concurrency.
SMOKE = replace(
    QUICK, bookings=500, availability_requests=5, booking_requests=64, healthz_requests=256, warmup_bookings=2
)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_quick_run_finds_no_double_booking_and_prints_every_figure(engine: str) -> None:
    """On PostgreSQL in production mode: its own redis-server and an `appliance worker` process."""
    out, log = io.StringIO(), io.StringIO()

    [result] = booking_engine.run([engine], SMOKE, out=out, log=log)

    text = out.getvalue()
    figures = {f.name: f.value for f in result.figures}
    assert result.problems == [], text + log.getvalue()
    assert figures["double_bookings"] == 0
    assert figures["booking_errors"] == figures["empty_booking_errors"] == 0
    assert {name: figures[name] for name in COUNT_FIGURES if figures[name] <= 0} == {}
    assert figures["seed_bookings"] == SMOKE.bookings
    assert figures["booking_requests"] == SMOKE.booking_requests
    missing = [name for name in FIGURE_NAMES if f"{engine} {name}=" not in text]
    assert missing == [], text
