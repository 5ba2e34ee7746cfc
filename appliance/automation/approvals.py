"""Approval in levels: required by a rule's `require_approval` action, decided level by level by the
role or people each level names, each level with a time limit (a durable timer). The last approval
confirms the booking; a rejection at any level, or a level's time running out, rejects it and frees
its slot. While levels are pending, a plain approve/reject/confirm of the booking is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Role
from appliance.automation.tables import Approval
from appliance.bookings import actions as bookings
from appliance.bookings.states import Status, Transition
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.core.db import json_value, write_transaction
from appliance.core.errors import Conflict, Forbidden, NotFound
from appliance.events.envelope import Envelope, Subject
from appliance.events.subscribers import Subscriber, subscribe
from appliance.events.timers import FIRED_EVENT, cancel_timers, schedule_timer

TIMER = "approval"
SYSTEM = Actor(kind="system", id=None, label="approval time limit", auth_method="system", superuser=True)


async def require_approval(booking_id: UUID, levels: list[dict[str, Any]], *, rule_id: UUID | None) -> str | None:
    """Start the levels for a booking waiting for approval; joins the caller's transaction. Returns why it
    does not apply, or None."""
    row = await Booking.select(Booking.status).where(Booking.id == booking_id).first()
    if row is None or row["status"] != Status.pending_approval.value:
        return "the booking is not waiting for approval"
    if await Approval.exists().where(Approval.booking == booking_id):
        return "approval levels are already required for this booking"
    now = utc_now()
    due = now + timedelta(minutes=int(levels[0]["time_limit_minutes"]))
    approval_id = uuid4()
    async with write_transaction():
        await Approval.insert(Approval(
            id=approval_id, booking=booking_id, rule=rule_id, levels=levels, level=1, status="pending", due_at=due,
            history=[], created_at=now, updated_at=now,
        ))
        await schedule_timer(TIMER, Subject("booking", str(booking_id)), due, {"approval_id": str(approval_id), "level": 1})
    return None


def may_decide(actor: Actor, level: dict[str, Any], branch_id: UUID) -> bool:
    """The level's named approvers, or holders of its role in the booking's branch (owners always)."""
    if actor.superuser or any(g.role == Role.owner for g in actor.grants):
        return True
    if actor.user_id is not None and str(actor.user_id) in (level.get("approvers") or []):
        return True
    role = level.get("approver_role")
    return bool(role) and any(
        g.role.value == role and (g.branch_id is None or g.branch_id == branch_id) for g in actor.grants
    )


async def _pending(approval_id: UUID) -> dict[str, Any]:
    row = await Approval.select(*Approval.all_columns(), Approval.booking.branch).where(Approval.id == approval_id).first()
    if row is None:
        raise NotFound("no such approval")
    if row["status"] != "pending":
        raise Conflict(f"this approval is {row['status']} already", code="approval_decided")
    return row


async def decide(approval_id: UUID, decision: str, *, actor: Actor, reason: str = "") -> dict[str, Any]:
    """Approve or reject the current level, as a person allowed to decide it."""
    row = await _pending(approval_id)
    levels = json_value(row["levels"])
    level = row["level"]
    if not may_decide(actor, levels[level - 1], row["booking.branch"]):
        raise Forbidden(f"level {level} is decided by {_who(levels[level - 1])}")
    return await _advance(row, decision, actor=actor, reason=reason)


def _who(level: dict[str, Any]) -> str:
    named = level.get("approvers") or []
    role = level.get("approver_role")
    return " or ".join([*([f"the role {role}"] if role else []), *(["the named approvers"] if named else [])])


async def _advance(row: dict[str, Any], decision: str, *, actor: Actor, reason: str) -> dict[str, Any]:
    levels, level, now = json_value(row["levels"]), row["level"], utc_now()
    last = level == len(levels)
    history = [*json_value(row["history"]), {
        "level": level, "decision": decision, "by": actor.label, "actor_id": actor.id, "at": now.isoformat(),
        "reason": reason,
    }]
    if decision == "approve" and not last:
        status, next_level, due = "pending", level + 1, now + timedelta(minutes=int(levels[level]["time_limit_minutes"]))
    else:
        status = {"approve": "approved", "reject": "rejected", "expire": "expired"}[decision]
        next_level, due = level, None
    subject = Subject("booking", str(row["booking"]))
    async with write_transaction():
        updated = await Approval.update({
            Approval.status: status, Approval.level: next_level, Approval.due_at: due, Approval.history: history,
            Approval.updated_at: now,
        }).where((Approval.id == row["id"]) & (Approval.status == "pending") & (Approval.level == level)).returning(
            Approval.id
        )
        if not updated:
            raise Conflict("someone decided this level meanwhile; reload it", code="approval_decided")
        if status == "pending":
            assert due is not None
            await schedule_timer(TIMER, subject, due, {"approval_id": str(row["id"]), "level": next_level})
        else:
            await cancel_timers(subject, TIMER)
            transition = "approve" if status == "approved" else "reject"
            note = reason or ("approval time limit passed" if decision == "expire" else "")
            await bookings.transition_booking(row["booking"], transition, actor=actor, reason=note, guarded=False)
        await record_change(
            "approval.decided", subject, {"approval_id": str(row["id"]), "level": level, "decision": decision,
                                          "status": status}, actor=actor,
            changed_fields=["status", "level"], details={"level": level, "decision": decision, "status": status},
        )
    return {"id": row["id"], "status": status, "level": next_level}


async def _refuse_plain_decisions(booking: dict[str, Any], transition: Transition) -> None:
    if transition.name in ("approve", "reject", "confirm") and await Approval.exists().where(
        (Approval.booking == booking["id"]) & (Approval.status == "pending")
    ):
        raise Conflict(
            "this booking waits for its approval levels: decide it under /api/v1/approvals",
            code="approval_in_progress",
        )


bookings.guard_transitions("automation.approvals", _refuse_plain_decisions)


async def _expire(envelope: Envelope) -> None:
    """A level's time ran out: reject the booking, unless that level was decided meanwhile."""
    approval_id, level = UUID(str(envelope.data["approval_id"])), int(envelope.data["level"])
    row = await Approval.select(*Approval.all_columns(), Approval.booking.branch).where(Approval.id == approval_id).first()
    if row is None or row["status"] != "pending" or row["level"] != level:
        return
    try:
        await _advance(row, "expire", actor=SYSTEM, reason="")
    except Conflict:
        return  # decided a moment before the timer: nothing to do


subscribe(Subscriber(
    "approvals", lambda e: e.type == FIRED_EVENT and e.data.get("name") == TIMER, _expire, timeout=timedelta(seconds=15)
))
