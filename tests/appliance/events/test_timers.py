"""Durable timers on both engines: scheduled, moved, cancelled, fired exactly once as events."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.events.envelope import Subject
from appliance.events.sweeper import sweep
from appliance.events.tables import OutboxEvent, Timer
from appliance.events.timers import BATCH, FIRED_EVENT, cancel_timers, fire_due_timers, schedule_timer

pytestmark = pytest.mark.usefixtures("database")

BOOKING = Subject("booking", "4f7e1f0f-4310-45e2-806b-255917b8b41e")


async def fired_events() -> list[dict[str, object]]:
    rows = await OutboxEvent.select(OutboxEvent.subject, OutboxEvent.data).where(OutboxEvent.type == FIRED_EVENT)
    return [{"subject": _load(r["subject"]), **_load(r["data"])} for r in rows]


def _load(value: object) -> dict[str, object]:
    loaded = json.loads(value) if isinstance(value, str) else value
    assert isinstance(loaded, dict)
    return loaded


async def test_a_timer_fires_once_when_due_as_an_event_with_its_data() -> None:
    due = utc_now() + timedelta(hours=24)
    timer_id = await schedule_timer("reminder", BOOKING, due, {"rule_id": "r1"})

    assert await fire_due_timers(due - timedelta(seconds=1)) == 0
    assert await fire_due_timers(due) == 1
    assert await fire_due_timers(due + timedelta(minutes=1)) == 0

    [event] = await fired_events()
    assert event["subject"] == {"type": "booking", "id": BOOKING.id}
    assert event["name"] == "reminder" and event["rule_id"] == "r1" and event["timer_id"] == str(timer_id)
    row = await Timer.select().where(Timer.id == timer_id).first()
    assert row["status"] == "fired" and row["fired_at"] is not None


async def test_scheduling_again_moves_the_timer_and_cancelling_stops_it() -> None:
    first = utc_now() + timedelta(hours=1)
    timer_id = await schedule_timer("reminder", BOOKING, first)
    moved_to = first + timedelta(days=2)
    assert await schedule_timer("reminder", BOOKING, moved_to) == timer_id  # a reschedule moves the reminder

    assert await fire_due_timers(first + timedelta(minutes=5)) == 0
    other = Subject("booking", "another")
    await schedule_timer("reminder", other, first)
    async with write_transaction():  # cancelled with the booking, in its transaction
        assert await cancel_timers(other) == 1
    assert await fire_due_timers(moved_to) == 1
    assert [e["subject"] for e in await fired_events()] == [{"type": "booking", "id": BOOKING.id}]
    assert await Timer.count() == 2


async def test_a_timer_scheduled_in_a_transaction_that_rolls_back_does_not_exist() -> None:
    with pytest.raises(RuntimeError):
        async with write_transaction():
            await schedule_timer("reminder", BOOKING, utc_now())
            raise RuntimeError("the booking change failed")
    assert await Timer.count() == 0


async def test_more_timers_than_a_batch_all_fire_exactly_once_through_the_sweeper() -> None:
    due = utc_now() - timedelta(seconds=1)
    count = BATCH + 37
    async with write_transaction():
        for n in range(count):
            await schedule_timer("survey", Subject("booking", f"b{n}"), due)

    swept = await sweep()

    assert swept.timers == count
    events = await fired_events()
    assert sorted(e["subject"]["id"] for e in events) == sorted(f"b{n}" for n in range(count))  # type: ignore[index]
    assert (await sweep()).timers == 0
