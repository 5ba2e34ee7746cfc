"""The event-pipeline benchmark's quick mode on PostgreSQL with real worker processes: what must hold on any
machine, never how fast."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator

import pytest

from appliance.settings import load_settings
from appliance.worker.broker import create_broker
from tests.bench import events_pipeline
from tests.bench.events_pipeline import COUNT_FIGURES, ENGINE, FIGURE_NAMES, QUICK

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not on PATH: the benchmark starts a Redis of its own"
)


@pytest.fixture
def embedded_broker_afterwards() -> Iterator[None]:
    """The run binds the tasks to its own Redis, stopped when it ends; later tests in this process get what an
    embedded app leaves bound instead (an in-memory broker), not a dead Redis."""
    yield
    create_broker(load_settings({"APPLIANCE_DATABASE_URL": "sqlite:///unused.db"}))


@pytest.mark.usefixtures("embedded_broker_afterwards")
def test_quick_run_delivers_each_event_once_fires_each_timer_once_and_prints_every_figure() -> None:
    out, log = io.StringIO(), io.StringIO()

    result = events_pipeline.run(QUICK, out=out, log=log)

    text = out.getvalue()
    figures = {f.name: f.value for f in result.figures}
    assert result.problems == [], text + log.getvalue()
    assert figures["dramatiq_noop_messages"] == QUICK.events
    assert figures["fanout_events"] == figures["fanout_deliveries"] == QUICK.events  # one delivery per event
    assert figures["fanout_attempts"] == figures["fanout_handler_calls"] == QUICK.events
    assert figures["timers_scheduled"] == figures["timers_fired"] == figures["timer_events"] == QUICK.timers
    assert {name: figures[name] for name in COUNT_FIGURES if figures[name] <= 0} == {}
    missing = [name for name in FIGURE_NAMES if f"{ENGINE} {name}=" not in text]
    assert missing == [], text
