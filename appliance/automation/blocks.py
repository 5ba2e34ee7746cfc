"""The `block_resource_window` action: keep a resource free for a window relative to the booking that set
the rule off ("the booking's room, 30 minutes after it ends"; "the laser, the hour before it starts").
The block is a time-off entry made through the catalog's own action, so it is audited as the rule and
the availability engine honours it like any other leave or maintenance. A redelivered event never
blocks twice: the engine records each (event, rule) once, in the transaction that made the block.

A block follows its booking: it keeps the booking's id and its window relative to the booking, and a
listener, inside the transaction that changes the booking, moves it when the booking is rescheduled or
moved to another resource, and removes what is still ahead of it when the booking stops holding its time
(cancelled, rejected, no-show)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from appliance.auth.actor import Actor
from appliance.automation.logic import ENDS_HOLDING
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog import actions as catalog
from appliance.catalog.schemas import TimeOffCreate
from appliance.catalog.tables import Resource, TimeOff
from appliance.core.clock import utc_now
from appliance.events.envelope import Envelope
from appliance.events.listeners import listen


@dataclass(frozen=True)
class Held:
    """A resource the booking holds."""

    id: UUID
    kind: str
    name: str


@dataclass(frozen=True)
class Block:
    resource_id: UUID
    resource_name: str
    starts_at: datetime
    ends_at: datetime


def plan_blocks(
    action: Mapping[str, Any], *, starts_at: datetime, ends_at: datetime, held: Sequence[Held],
    named: Held | None, now: datetime,
) -> list[Block] | str:
    """The blocks the action makes for this booking, or why it makes none. Pure."""
    anchor = starts_at if action["anchor"] == "starts_at" else ends_at
    start = anchor + timedelta(minutes=int(action["offset_minutes"]))
    end = start + timedelta(minutes=int(action["minutes"]))
    if end <= now:
        return "the window has passed"
    if action.get("resource_id"):
        if named is None:
            return "the resource no longer exists"
        targets: list[Held] = [named]
    else:
        targets = sorted({h for h in held if h.kind == action["resource_kind"]}, key=lambda h: str(h.id))
        if not targets:
            return f"the booking holds no {action['resource_kind']}"
    return [Block(t.id, t.name, start, end) for t in targets]


WINDOW_KEYS = ("anchor", "offset_minutes", "minutes", "resource_kind", "resource_id")
MOVED_BY = frozenset({"booking.rescheduled", "booking.reassigned"})
SYSTEM = Actor(kind="system", id=None, label="rules: blocks follow their booking", auth_method="system", superuser=True)


def follow_window(action: Mapping[str, Any]) -> dict[str, Any]:
    """What a block keeps of its action to be planned again when its booking moves."""
    return {key: action[key] for key in WINDOW_KEYS if action.get(key) is not None}


async def blocks_for(action: Mapping[str, Any], booking_id: UUID) -> list[Block] | str:
    """What the action would block for this booking now (read only: the dry run shows it too)."""
    booking = await Booking.select(Booking.starts_at, Booking.ends_at).where(Booking.id == booking_id).first()
    if booking is None:
        return "the booking no longer exists"
    rows = await Allocation.select(
        Allocation.resource, Allocation.resource.kind, Allocation.resource.name
    ).where((Allocation.booking == booking_id) & (Allocation.active == True))  # noqa: E712 (what it holds now)
    held = [Held(r["resource"], r["resource.kind"], r["resource.name"]) for r in rows]
    named = None
    if resource_id := action.get("resource_id"):
        row = await Resource.select(Resource.id, Resource.kind, Resource.name).where(Resource.id == UUID(resource_id)).first()
        named = Held(row["id"], row["kind"], row["name"]) if row else None
    return plan_blocks(action, starts_at=booking["starts_at"], ends_at=booking["ends_at"], held=held, named=named, now=utc_now())


async def block_resource_window(action: Mapping[str, Any], booking_id: UUID, *, actor: Actor) -> str | None:
    """Make the blocks as time off of each resource, audited as the rule; joins the caller's transaction.
    Returns why nothing was blocked, or None."""
    planned = await blocks_for(action, booking_id)
    if isinstance(planned, str):
        return planned
    await _add(planned, booking_id, follow_window(action), reason=actor.label[:200], actor=actor)
    return None


async def _add(planned: Sequence[Block], booking_id: UUID, window: Mapping[str, Any], *, reason: str, actor: Actor) -> None:
    for block in planned:
        await catalog.add_time_off(
            block.resource_id, TimeOffCreate(starts_at=block.starts_at, ends_at=block.ends_at, reason=reason),
            actor=actor, booking_id=booking_id, follow_window=window,
        )


async def follow_booking(envelope: Envelope) -> None:
    """In the booking change's transaction: a moved booking's blocks are planned again from their windows
    (on the resources it holds now); a booking that stops holding its time releases the blocks still ahead."""
    if envelope.subject.type != "booking" or envelope.type not in MOVED_BY | ENDS_HOLDING:
        return
    booking_id = UUID(envelope.subject.id)
    now = utc_now()
    rows = await TimeOff.select(
        TimeOff.id, TimeOff.resource, TimeOff.reason, TimeOff.follow_window, TimeOff.ends_at
    ).where((TimeOff.booking == booking_id) & (TimeOff.ends_at > now))
    if not rows:
        return
    for row in rows:
        await catalog.remove_time_off(row["resource"], row["id"], actor=SYSTEM)
    if envelope.type in ENDS_HOLDING:
        return
    # One block per window and reason (a window may have covered several resources of a kind).
    windows = {(json_key(row["follow_window"]), row["reason"]): row["follow_window"] for row in rows if row["follow_window"]}
    for (_key, reason), window in sorted(windows.items()):
        planned = await blocks_for(_as_mapping(window), booking_id)
        if not isinstance(planned, str):
            await _add(planned, booking_id, _as_mapping(window), reason=reason, actor=SYSTEM)


def _as_mapping(value: Any) -> Mapping[str, Any]:
    """A JSON column's value: decoded by the PostgreSQL driver, text on SQLite."""
    decoded: Mapping[str, Any] = json.loads(value) if isinstance(value, str) else value
    return decoded


def json_key(value: Any) -> str:
    return json.dumps(_as_mapping(value), sort_keys=True)


listen("automation.blocks", follow_booking)


def describe(planned: list[Block] | str) -> dict[str, Any]:
    """For the dry run: what would be blocked, or why nothing would."""
    if isinstance(planned, str):
        return {"would_skip": planned}
    return {"would_block": [
        {"resource_id": str(b.resource_id), "resource_name": b.resource_name, "starts_at": b.starts_at.isoformat(),
         "ends_at": b.ends_at.isoformat()}
        for b in planned
    ]}
