"""Durable timers: the only code that writes them. A timer is a row, so it survives restarts and moves or
disappears with the change that caused it (same transaction); the sweeper fires due ones in batches,
each becoming a `timer.fired` event in the outbox that subscribers (the rules engine) receive like any
other event. Firing claims rows with a conditional update, so two sweepers never fire one twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from appliance.auth.actor import Actor
from appliance.core.clock import utc_now
from appliance.core.db import json_value, uuid_value, write_transaction
from appliance.events.envelope import Subject
from appliance.events.outbox import add_events
from appliance.events.tables import Timer

FIRED_EVENT = "timer.fired"
BATCH = 500

# Timers fire on behalf of the system, whoever scheduled them.
SYSTEM = Actor(kind="system", id=None, label="timers", auth_method="system")


async def schedule_timer(name: str, subject: Subject, due_at: datetime, data: dict[str, Any] | None = None) -> UUID:
    """Create the timer, or move it (and re-arm it if it had fired or been cancelled). Joins the caller's
    transaction."""
    now = utc_now()
    async with write_transaction():
        moved = await Timer.update({
            Timer.due_at: due_at, Timer.status: "scheduled", Timer.data: data or {}, Timer.updated_at: now,
            Timer.fired_at: None,
        }).where(
            (Timer.name == name) & (Timer.subject_type == subject.type) & (Timer.subject_id == subject.id)
        ).returning(Timer.id)
        if moved:
            return uuid_value(moved[0]["id"])
        timer_id = uuid4()
        await Timer.insert(Timer(
            id=timer_id, name=name, subject_type=subject.type, subject_id=subject.id, due_at=due_at,
            status="scheduled", data=data or {}, created_at=now, updated_at=now,
        ))
        return timer_id


async def cancel_timers(subject: Subject, name: str | None = None) -> int:
    """Cancel the subject's scheduled timers (only `name`, when given); returns how many."""
    where = (Timer.subject_type == subject.type) & (Timer.subject_id == subject.id) & (Timer.status == "scheduled")
    if name is not None:
        where &= Timer.name == name
    async with write_transaction():
        cancelled = await Timer.update({Timer.status: "cancelled", Timer.updated_at: utc_now()}).where(where).returning(
            Timer.id
        )
    return len(cancelled)


async def cancel_timers_by_id(timer_ids: list[UUID]) -> int:
    """Cancel these timers, those still scheduled; returns how many. Joins the caller's transaction."""
    if not timer_ids:
        return 0
    async with write_transaction():
        cancelled = await Timer.update({Timer.status: "cancelled", Timer.updated_at: utc_now()}).where(
            Timer.id.is_in(timer_ids) & (Timer.status == "scheduled")
        ).returning(Timer.id)
    return len(cancelled)


async def fire_due_timers(now: datetime | None = None) -> int:
    """Fire every scheduled timer due by `now`, a batch per transaction; returns how many fired."""
    now = now or utc_now()
    fired = 0
    while True:
        async with write_transaction():
            due = await Timer.select(Timer.id).where((Timer.status == "scheduled") & (Timer.due_at <= now)).order_by(
                Timer.due_at
            ).limit(BATCH)
            if not due:
                return fired
            fired_at = utc_now()  # when this batch fired, not when the pass began: the lag as it was
            claimed = await Timer.update({
                Timer.status: "fired", Timer.fired_at: fired_at, Timer.updated_at: fired_at,
            }).where(
                Timer.id.is_in([r["id"] for r in due]) & (Timer.status == "scheduled")
            ).returning(Timer.id, Timer.name, Timer.subject_type, Timer.subject_id, Timer.due_at, Timer.data)
            # The events carry the timer's id: the link from a timer to what it caused.
            await add_events(FIRED_EVENT, [
                (
                    Subject(row["subject_type"], row["subject_id"]),
                    {"timer_id": str(row["id"]), "name": row["name"], "due_at": row["due_at"], **(json_value(row["data"]) or {})},
                )
                for row in claimed
            ], actor=SYSTEM)
            fired += len(claimed)
