"""Timer backfill: a rule's timers follow the rule. Booking changes keep each booking's timers in step
(engine.sync_rule_timers); this keeps them in step when the rule itself changes. When a timer rule is
created, enabled, or its anchor or offset changes, the existing bookings it applies to get their timers
created or moved; when it is disabled, deleted or no longer a timer rule, its pending timers are
cancelled.

A subscriber on the rule's own events does it in batches, each in its own transaction, at most a few
batches per delivery, handing the rest on to a durable timer (so the work per delivery is bounded and a
restart loses nothing). Every pass brings the timers in step with the rule as it is *now*, so running it
twice, late, or for an older change is harmless."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from appliance.automation.engine import TIMER_PREFIX, timer_data
from appliance.automation.queries import rule_schema
from appliance.automation.schemas import Rule as RuleOut
from appliance.automation.tables import Rule
from appliance.bookings.states import HOLDING, PaymentStatus, Status
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.core.db import current_dialect, json_value, write_transaction
from appliance.events.envelope import Envelope, Subject
from appliance.events.subscribers import Subscriber, subscribe
from appliance.events.tables import OutboxEvent, Timer
from appliance.events.timers import FIRED_EVENT, cancel_timers_by_id, schedule_timer

SUBSCRIBER = "rule_timers"
CONTINUE = "rule_timers.continue"
RULE_EVENTS = frozenset({"rule.created", "rule.updated", "rule.deleted"})
BATCH = 250
BATCHES_PER_DELIVERY = 8
# The event that sets each anchor other than the booking's own times (no column keeps them).
ANCHOR_EVENTS = {"completed_at": "booking.completed", "awaiting_payment_at": "booking.payment_status_changed"}
HOLDING_VALUES = [s.value for s in HOLDING]


@dataclass(frozen=True)
class Cursor:
    """Where a pass stands: cancelling stale timers, then visiting bookings; after this keyset."""

    phase: str  # timers | bookings
    after: tuple[str, ...] = ()

    def data(self) -> dict[str, Any]:
        return {"phase": self.phase, "after": list(self.after)}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Cursor:
        return cls(str(data.get("phase", "timers")), tuple(str(v) for v in data.get("after") or ()))


START = Cursor("timers")


# --- Pure decisions ------------------------------------------------------------------------------------


def definition(rule: RuleOut | None) -> dict[str, Any] | None:
    """The anchor and offset an enabled timer rule sets its timers by; None when it should have none."""
    if rule is None or not rule.enabled or "timer" not in rule.trigger:
        return None
    timer = rule.trigger["timer"]
    return {"anchor": timer["anchor"], "offset_minutes": int(timer["offset_minutes"])}


def is_stale(timer: Mapping[str, Any], wanted: Mapping[str, Any] | None) -> bool:
    """A pending timer set by another definition of the rule (or by one that should have none)."""
    return wanted is None or any(timer.get(k) != v for k, v in wanted.items())


def needs_scheduling(current: tuple[str, datetime] | None, due: datetime, now: datetime) -> bool:
    """Whether a booking's timer must be created, moved or re-armed to fall due at `due`. One that fired
    already is left alone: the rule ran for this booking, and changing the rule does not run it twice."""
    if due <= now or (current is not None and current[0] == "fired"):
        return False
    return current is None or current != ("scheduled", due)


# --- The passes ----------------------------------------------------------------------------------------


async def reconcile(rule_id: UUID, cursor: Cursor = START) -> Cursor | None:
    """Up to BATCHES_PER_DELIVERY batches, each its own transaction; returns None when done, else where a
    continuation timer, left due now, goes on from."""
    for _ in range(BATCHES_PER_DELIVERY):
        async with write_transaction():
            rule = await _rule(rule_id)
            step = await (_cancel_stale if cursor.phase == "timers" else _visit_bookings)(rule_id, rule, cursor)
        if step is None:
            return None
        cursor = step
    await schedule_timer(CONTINUE, Subject("rule", str(rule_id)), utc_now(), cursor.data())
    return cursor


async def _rule(rule_id: UUID) -> RuleOut | None:
    # On PostgreSQL the batch holds the rule row: a change of the rule waits for it, and its own pass then
    # sees what this batch did. SQLite's write transactions run one at a time anyway.
    query = Rule.select().where(Rule.id == rule_id)
    if current_dialect() == "postgresql":
        query = query.lock_rows("SHARE")
    row = await query.first()
    return rule_schema(row) if row else None


async def _cancel_stale(rule_id: UUID, rule: RuleOut | None, cursor: Cursor) -> Cursor | None:
    query = Timer.select(Timer.id, Timer.data).where(
        (Timer.name == f"{TIMER_PREFIX}{rule_id}") & (Timer.status == "scheduled")
    ).order_by(Timer.id).limit(BATCH)
    if cursor.after:
        query = query.where(Timer.id > UUID(cursor.after[0]))
    rows = await query
    wanted = definition(rule)
    await cancel_timers_by_id([r["id"] for r in rows if is_stale(json_value(r["data"]) or {}, wanted)])
    if len(rows) == BATCH:
        return Cursor("timers", (str(rows[-1]["id"]),))
    return Cursor("bookings") if rule is not None and wanted is not None else None


async def _visit_bookings(rule_id: UUID, rule: RuleOut | None, cursor: Cursor) -> Cursor | None:
    wanted = definition(rule)
    if rule is None or wanted is None:
        return START  # changed meanwhile: start over, cancelling
    anchor, offset = wanted["anchor"], timedelta(minutes=wanted["offset_minutes"])
    now = utc_now()
    visit = _by_event if anchor in ANCHOR_EVENTS else _by_booking_time
    anchors, after = await visit(rule, anchor, now - offset, cursor)
    name = f"{TIMER_PREFIX}{rule.id}"
    existing = {
        r["subject_id"]: (r["status"], r["due_at"])
        for r in await Timer.select(Timer.subject_id, Timer.status, Timer.due_at).where(
            (Timer.name == name) & (Timer.subject_type == "booking") & Timer.subject_id.is_in(list(anchors) or [""])
        )
    }
    for booking_id, at in anchors.items():
        if needs_scheduling(existing.get(booking_id), at + offset, now):
            await schedule_timer(name, Subject("booking", booking_id), at + offset, timer_data(rule.id, rule.trigger["timer"]))
    return Cursor("bookings", after) if after else None


Anchors = tuple[dict[str, datetime], tuple[str, ...]]  # booking id → anchor time; the keyset to go on after


async def _by_booking_time(rule: RuleOut, anchor: str, since: datetime, cursor: Cursor) -> Anchors:
    """Bookings still holding their time whose start (or end) lies after `since`, by (start, id)."""
    # Bookings last at most a day: whatever ends after `since` starts after a day before it.
    earliest = since - (timedelta(days=1) if anchor == "ends_at" else timedelta(0))
    query = Booking.select(Booking.id, Booking.starts_at, Booking.ends_at).where(
        Booking.status.is_in(HOLDING_VALUES) & (Booking.starts_at > earliest)
    ).order_by(Booking.starts_at, Booking.id).limit(BATCH)
    if rule.branch_id is not None:
        query = query.where(Booking.branch == rule.branch_id)
    if cursor.after:
        start, last = datetime.fromisoformat(cursor.after[0]), UUID(cursor.after[1])
        query = query.where((Booking.starts_at > start) | ((Booking.starts_at == start) & (Booking.id > last)))
    rows = await _locked(query)
    anchors = {str(r["id"]): r[anchor] for r in rows if r[anchor] > since}
    after = (rows[-1]["starts_at"].isoformat(), str(rows[-1]["id"])) if len(rows) == BATCH else ()
    return anchors, after


async def _by_event(rule: RuleOut, anchor: str, since: datetime, cursor: Cursor) -> Anchors:
    """Bookings completed (or set awaiting payment) after `since`, found by that event, still in that state."""
    query = OutboxEvent.select(OutboxEvent.id, OutboxEvent.occurred_at, OutboxEvent.subject, OutboxEvent.data).where(
        (OutboxEvent.type == ANCHOR_EVENTS[anchor]) & (OutboxEvent.occurred_at > since)
    ).order_by(OutboxEvent.occurred_at, OutboxEvent.id).limit(BATCH)
    if cursor.after:
        at, last = datetime.fromisoformat(cursor.after[0]), UUID(cursor.after[1])
        query = query.where((OutboxEvent.occurred_at > at) | ((OutboxEvent.occurred_at == at) & (OutboxEvent.id > last)))
    rows = await query
    times: dict[str, datetime] = {}
    for row in rows:  # oldest first: the latest time a booking entered the state wins
        data = json_value(row["data"]) or {}
        if anchor == "completed_at" or data.get("payment_status") == PaymentStatus.awaiting_payment.value:
            times[str(json_value(row["subject"])["id"])] = row["occurred_at"]
    still = Booking.select(Booking.id).where(Booking.id.is_in([UUID(k) for k in times] or [UUID(int=0)]))
    if anchor == "completed_at":
        still = still.where(Booking.status == Status.completed.value)
    else:
        still = still.where(
            (Booking.payment_status == PaymentStatus.awaiting_payment.value) & Booking.status.is_in(HOLDING_VALUES)
        )
    if rule.branch_id is not None:
        still = still.where(Booking.branch == rule.branch_id)
    holding = {str(r["id"]) for r in await _locked(still)}
    after = (rows[-1]["occurred_at"].isoformat(), str(rows[-1]["id"])) if len(rows) == BATCH else ()
    return {k: v for k, v in times.items() if k in holding}, after


async def _locked(query: Any) -> list[dict[str, Any]]:
    """On PostgreSQL, hold the bookings read until the batch commits: a cancellation racing with it waits,
    and its own listener then cancels what the batch scheduled (SQLite runs one writer at a time)."""
    if current_dialect() == "postgresql":
        query = query.lock_rows("SHARE")
    rows: list[dict[str, Any]] = await query
    return rows


# --- The subscriber ------------------------------------------------------------------------------------


def wants(envelope: Envelope) -> bool:
    if envelope.subject.type != "rule":
        return False
    return envelope.type in RULE_EVENTS or (envelope.type == FIRED_EVENT and envelope.data.get("name") == CONTINUE)


async def handle(envelope: Envelope) -> None:
    cursor = Cursor.of(envelope.data) if envelope.type == FIRED_EVENT else START
    await reconcile(UUID(envelope.subject.id), cursor)


subscribe(Subscriber(SUBSCRIBER, wants, handle, timeout=timedelta(seconds=30)))
