"""Recording tries: those that finish together share a write, and one that cannot be recorded costs no other
its record."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import pytest

from appliance.core.clock import utc_now
from appliance.events import actions
from appliance.events.attempts import Tried, record
from appliance.events.envelope import Envelope
from appliance.events.subscribers import Subscriber, subscribe, unsubscribe
from appliance.events.tables import Attempt, Delivery, OutboxEvent
from appliance.testing.builders import make_branch

pytestmark = pytest.mark.usefixtures("database", "three_subscribers")
KEYS = ("test.first", "test.second", "test.third")


async def _ignore(envelope: Envelope) -> None:
    pass


@pytest.fixture
def three_subscribers() -> Iterator[None]:
    for key in KEYS:
        subscribe(Subscriber(key, lambda e: e.type == "branch.created", _ignore))
    yield
    for key in KEYS:
        unsubscribe(key)


async def _claimed_deliveries() -> list[Delivery]:
    """The deliveries of a new branch's event, claimed as a worker's try would claim them."""
    await make_branch()
    [event] = await OutboxEvent.select(OutboxEvent.id).where(OutboxEvent.type == "branch.created")
    await actions.fan_out(event["id"])
    rows = await Delivery.objects().where(Delivery.event == event["id"]).order_by(Delivery.subscriber)
    assert set(KEYS) <= {r.subscriber for r in rows}
    await Delivery.update({Delivery.status: "running", Delivery.attempts: 1}).where(Delivery.event == event["id"])
    return rows


async def test_tries_finished_together_are_all_recorded_with_their_outcomes() -> None:
    deliveries = await _claimed_deliveries()
    started = utc_now()
    outcomes = ["success", "retry", "failed"]
    tries = [
        Tried(d.id, 1, started, 5, outcomes[n % 3], "" if n % 3 == 0 else "receiver down",
              timedelta(hours=1) if n % 3 == 1 else None)
        for n, d in enumerate(deliveries)
    ]

    statuses = await asyncio.gather(*(record(t) for t in tries))

    assert statuses == [{"success": "done", "retry": "pending", "failed": "dead"}[t.outcome] for t in tries]
    rows = {r["id"]: r for r in await Delivery.select().where(Delivery.id.is_in([d.id for d in deliveries]))}
    for t in tries:
        row = rows[t.delivery_id]
        assert row["status"] == {"success": "done", "retry": "pending", "failed": "dead"}[t.outcome]
        assert row["claimed_until"] is None and row["last_error"] == t.response
        assert (row["next_attempt_at"] is not None) == (t.outcome == "retry")
        assert (row["completed_at"] is not None) == (t.outcome == "success")
    recorded = await Attempt.select(Attempt.delivery, Attempt.outcome, Attempt.duration_ms)
    assert sorted((a["delivery"], a["outcome"], a["duration_ms"]) for a in recorded) == sorted(
        (t.delivery_id, t.outcome, 5) for t in tries
    )


async def test_a_try_that_cannot_be_recorded_costs_no_other_try_its_record() -> None:
    [delivery, *_] = await _claimed_deliveries()
    started = utc_now()
    # Its delivery is gone: its attempt cannot refer to it.
    vanished = Tried(uuid4(), 1, started, 1, "success", "", None)
    healthy = Tried(delivery.id, 1, started, 1, "success", "", None)

    results = await asyncio.gather(record(vanished), record(healthy), return_exceptions=True)

    assert isinstance(results[0], Exception) and results[1] == "done"
    [row] = await Delivery.select(Delivery.status).where(Delivery.id == delivery.id)
    assert row["status"] == "done"
    assert [a["delivery"] for a in await Attempt.select(Attempt.delivery)] == [delivery.id]
