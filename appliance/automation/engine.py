"""Running rules. The `rules` subscriber evaluates the enabled rules a booking event (or one of their
timers) sets off, in priority order, and runs the actions of each whose conditions hold — once per
event and rule, recorded as a `RuleRun`. The timer listener keeps each booking's rule timers in step
with the booking, inside the transaction that changes it: a rescheduled booking's reminder moves, a
cancelled booking's never fires."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from appliance.auth.actor import Actor
from appliance.automation import conditions, customer_actions
from appliance.automation.approvals import require_approval
from appliance.automation.blocks import block_resource_window
from appliance.automation.logic import BOOKING_EVENTS, CUSTOM_EVENT, ENDS_HOLDING
from appliance.automation.queries import booking_facts, rule_schema
from appliance.automation.schemas import Rule as RuleOut
from appliance.automation.tables import Rule, RuleRun
from appliance.bookings import actions as bookings
from appliance.bookings.queries import get_booking_row
from appliance.bookings.states import TRANSITIONS, PaymentStatus, Status
from appliance.core.clock import utc_now
from appliance.core.db import json_value, run_sql, uuid_value, write_transaction
from appliance.core.errors import AppError, NotFound
from appliance.core.revision import REVISION_SQL, seen_in_transaction
from appliance.events.envelope import Envelope, Subject
from appliance.events.listeners import listen
from appliance.events.outbox import add_event
from appliance.events.subscribers import Subscriber, subscribe
from appliance.events.timers import FIRED_EVENT, cancel_timers, schedule_timer
from appliance.notifications.actions import queue_message

SUBSCRIBER = "rules"
TIMER_PREFIX = "rule:"
MAX_CHAIN = 3  # custom events emitted by rules may set off rules, this many deep (no endless loops)
SYSTEM = Actor(kind="system", id=None, label="rules", auth_method="system", superuser=True)


def rule_actor(rule: RuleOut) -> Actor:
    """Who a rule's changes are audited as."""
    return Actor(kind="system", id=f"rule:{rule.id}", label=f"rule: {rule.name}"[:150], auth_method="rule", superuser=True)


async def enabled_rules() -> list[RuleOut]:
    rows = await Rule.select().where(Rule.enabled == True).order_by(Rule.priority, Rule.id)  # noqa: E712
    return [rule_schema(r) for r in rows]


# --- The subscriber ----------------------------------------------------------------------------------


def wants(envelope: Envelope) -> bool:
    if envelope.subject.type != "booking":
        return False
    if envelope.type == FIRED_EVENT:
        return str(envelope.data.get("name", "")).startswith(TIMER_PREFIX)
    return envelope.type in BOOKING_EVENTS or bool(
        CUSTOM_EVENT.fullmatch(envelope.type) and int(envelope.data.get("chain", 0)) <= MAX_CHAIN
    )


def _set_off(rule: RuleOut, envelope: Envelope) -> bool:
    if envelope.type == FIRED_EVENT:
        return "timer" in rule.trigger and envelope.data.get("name") == f"{TIMER_PREFIX}{rule.id}"
    return rule.trigger.get("event") == envelope.type


async def handle(envelope: Envelope) -> None:
    booking_id = UUID(envelope.subject.id)
    candidates = [rule for rule in await enabled_rules() if _set_off(rule, envelope)]
    if not candidates:
        return
    # Read once for all the rules: an event's rules judge what its actions could change (status,
    # payment status) as the event recorded it, and a timer sets off a single rule.
    try:
        facts = _as_of_event(await booking_facts(booking_id, event_type=envelope.type, actor=SYSTEM), envelope)
    except NotFound:
        return  # the booking is gone: nothing to act on
    for rule in candidates:
        if rule.branch_id is not None and str(rule.branch_id) != facts["branch.id"]:
            continue
        held = conditions.evaluate(rule.conditions, facts).held
        async with write_transaction():
            # Delivered before (a redelivery): its actions ran then, in a transaction that committed.
            if not await RuleRun.exists().where((RuleRun.event == envelope.id) & (RuleRun.rule == rule.id)):
                outcome = await _run_actions(rule, booking_id, envelope) if held else []
                await RuleRun.insert(RuleRun(
                    id=uuid4(), event=envelope.id, rule=rule.id, booking=booking_id, matched=held, outcome=outcome,
                    created_at=utc_now(),
                ))
        if held and rule.stop_further:
            break


# The booking's own facts as the event recorded them: a rule set off by an event judges the booking as it
# was then, not after later changes (two payment changes handled late would otherwise both look "paid").
# Timer rules judge the booking as it is now ("remind only if still confirmed").
_EVENT_FACTS = {"status": "booking.status", "payment_status": "booking.payment_status", "channel": "booking.channel",
                "seats": "booking.seats"}


def _as_of_event(facts: dict[str, Any], envelope: Envelope) -> dict[str, Any]:
    if envelope.type == FIRED_EVENT:
        return facts
    recorded = {fact: envelope.data[key] for key, fact in _EVENT_FACTS.items() if key in envelope.data}
    return {**facts, **recorded}


# Rules only touch the database: a run taking longer than this is stuck, and its claim should expire soon.
subscribe(Subscriber(SUBSCRIBER, wants, handle, timeout=timedelta(seconds=15)))


# --- Actions -------------------------------------------------------------------------------------------


async def _run_actions(rule: RuleOut, booking_id: UUID, envelope: Envelope) -> list[dict[str, Any]]:
    """Each action in order; one that does not apply (the booking moved on) is skipped with the reason,
    and the rest still run."""
    actor = rule_actor(rule)
    outcome: list[dict[str, Any]] = []
    for action in rule.actions:
        result = "done"
        try:
            reason = await ACTION_RUNNERS[action["type"]](action, booking_id, envelope, actor)
        except ActionFailed as exc:
            result, reason = "failed", str(exc)
        except AppError as exc:
            reason = exc.detail
        if reason and result == "done":
            result = "skipped"
        outcome.append({"type": action["type"], "result": result, "reason": reason or ""})
    return outcome


class ActionFailed(Exception):
    """An action that had to happen could not (a resource to assign was taken): recorded as failed, for
    staff to see in the rule's runs; the rule's other actions still run."""


async def _transition_to(status: str, booking_id: UUID, actor: Actor, *, prefer: str | None = None) -> str | None:
    row = await get_booking_row(booking_id, actor=actor)
    current = Status(row["status"])
    possible = [t for t in TRANSITIONS.values() if t.target.value == status and current in t.sources]
    possible.sort(key=lambda t: t.name != prefer)
    if not possible:
        return f"no transition from {current.value} to {status}"
    await bookings.transition_booking(booking_id, possible[0].name, actor=actor, reason=actor.label)
    return None


async def _auto_approve(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    return await _transition_to(Status.confirmed.value, booking_id, actor, prefer="approve")


async def _set_status(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    return await _transition_to(action["status"], booking_id, actor)


async def _set_payment_status(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    await bookings.set_payment_status(booking_id, PaymentStatus(action["payment_status"]), actor=actor)
    return None


async def _emit_event(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    chain = int(envelope.data.get("chain", 0)) + 1
    if chain > MAX_CHAIN:
        return f"rules set off by custom events stop {MAX_CHAIN} deep"
    await add_event(
        action["event"], Subject("booking", str(booking_id)),
        {"booking_id": str(booking_id), "rule_id": actor.id, "cause": str(envelope.id), "chain": chain}, actor=actor,
    )
    return None


async def _notify(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    await queue_message(
        booking_id, channel_name=action["channel"], template=action["template"], recipient=action["recipient"],
        actor=actor, rule_id=UUID(str(actor.id).removeprefix("rule:")), cause=envelope.id,
    )
    return None


async def _require_approval(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    return await require_approval(booking_id, action["levels"], rule_id=UUID(str(actor.id).removeprefix("rule:")))


async def _assign_resource(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    """`assign`: the booking must get the resource, a failure is recorded as such; `prefer`: it gets the
    resource when it is free, and keeps what it has otherwise."""
    try:
        await bookings.reassign_resource(booking_id, UUID(action["resource_id"]), actor=actor, reason=actor.label)
    except AppError as exc:
        if action["mode"] == "assign":
            raise ActionFailed(exc.detail) from exc
        return f"kept its resources: {exc.detail}"
    return None


async def _block_resource_window(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    return await block_resource_window(action, booking_id, actor=actor)


async def _add_tag(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    return await customer_actions.add_tag(action, booking_id, actor=actor)


async def _remove_tag(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    return await customer_actions.remove_tag(action, booking_id, actor=actor)


async def _add_points(action: dict[str, Any], booking_id: UUID, envelope: Envelope, actor: Actor) -> str | None:
    return await customer_actions.add_points(action, booking_id, actor=actor)


ACTION_RUNNERS = {
    "notify": _notify,
    "block_resource_window": _block_resource_window,
    "assign_resource": _assign_resource,
    "require_approval": _require_approval,
    "auto_approve": _auto_approve,
    "set_status": _set_status,
    "set_payment_status": _set_payment_status,
    "emit_event": _emit_event,
    "add_tag": _add_tag,
    "remove_tag": _remove_tag,
    "add_points": _add_points,
}


# --- Timers ----------------------------------------------------------------------------------------------


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _anchors(envelope: Envelope) -> dict[str, datetime]:
    """The booking times this event sets (or moves)."""
    data = envelope.data
    if envelope.type in ("booking.created", "booking.rescheduled"):
        return {"starts_at": _instant(data["starts_at"]), "ends_at": _instant(data["ends_at"])}
    if envelope.type == "booking.completed":
        return {"completed_at": envelope.occurred_at}
    if envelope.type == "booking.payment_status_changed" and data.get("payment_status") == "awaiting_payment":
        return {"awaiting_payment_at": envelope.occurred_at}
    return {}


async def sync_rule_timers(envelope: Envelope) -> None:
    """In the booking change's transaction: schedule or move the timers of enabled timer rules anchored on
    the times this event sets; cancel them all when the booking stops holding its time."""
    if envelope.subject.type != "booking":
        return
    subject = envelope.subject
    if envelope.type in ENDS_HOLDING:
        await cancel_timers(subject)
        return
    anchors = _anchors(envelope)
    if envelope.type == "booking.payment_status_changed" and not anchors:
        for rule in await _timer_rules("awaiting_payment_at"):
            await cancel_timers(subject, f"{TIMER_PREFIX}{rule.id}")  # paid meanwhile: no payment reminder
        return
    if not anchors:
        return
    now = utc_now()
    branch = str(envelope.data.get("branch_id", ""))
    for rule in await _timer_rules(*anchors):
        if rule.branch_id is not None and str(rule.branch_id) != branch:
            continue
        due = anchors[rule.timer["anchor"]] + timedelta(minutes=int(rule.timer["offset_minutes"]))
        name = f"{TIMER_PREFIX}{rule.id}"
        if due <= now:
            await cancel_timers(subject, name)  # e.g. "24 h before" a booking made for within the hour
            continue
        await schedule_timer(name, subject, due, timer_data(rule.id, rule.timer))


def timer_data(rule_id: UUID, timer: Mapping[str, Any]) -> dict[str, Any]:
    """What a rule's timer carries: the definition it was set by, so a changed rule can tell its stale timers."""
    return {"rule_id": str(rule_id), "anchor": timer["anchor"], "offset_minutes": int(timer["offset_minutes"])}


@dataclass(frozen=True)
class TimerRule:
    id: UUID
    branch_id: UUID | None  # None: every branch
    timer: Mapping[str, Any]  # {"anchor", "offset_minutes"}


# Raw and narrow: every booking change needs the timer rules, three columns of them, and the catalog
# revision they were read at (one row even without rules).
_ENABLED_TRIGGERS_SQL = (
    f"SELECT {REVISION_SQL} AS revision, r.id, r.branch, r.trigger FROM (SELECT 1 AS one) AS one"
    " LEFT JOIN rule r ON r.enabled ORDER BY r.priority, r.id"
)
# The enabled timer rules as this process last read them, with the catalog revision of that read: a booking
# transaction whose calendar query saw the same revision uses them without reading them again.
_kept_timer_rules: tuple[str, list[TimerRule]] | None = None


async def _enabled_timer_rules() -> list[TimerRule]:
    global _kept_timer_rules
    kept, seen = _kept_timer_rules, seen_in_transaction()
    if kept is not None and seen is not None and kept[0] == seen:
        return kept[1]
    rows = await run_sql(_ENABLED_TRIGGERS_SQL)
    found = []
    for row in rows:
        timer = (json_value(row["trigger"]) or {}).get("timer") if row["id"] is not None else None
        if timer is not None:
            branch = row["branch"]
            found.append(TimerRule(uuid_value(row["id"]), None if branch is None else uuid_value(branch), timer))
    _kept_timer_rules = (str(rows[0]["revision"]), found)
    return found


async def _timer_rules(*anchors: str) -> list[TimerRule]:
    return [rule for rule in await _enabled_timer_rules() if rule.timer.get("anchor") in anchors]


listen("automation.rule_timers", sync_rule_timers)
