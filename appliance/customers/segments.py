"""The only code that writes segments: saved customer filters (customers.logic.SegmentFilter) that lists,
exports and rules (`customer.segments`) use. Audited by key and changed fields; a filter holds no
personal data (it filters on non-personal columns only)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.core.clock import utc_now
from appliance.core.db import is_unique_violation, write_transaction
from appliance.core.errors import Conflict, Forbidden, Invalid, NotFound
from appliance.customers import schemas
from appliance.customers.logic import SEGMENT_KEY, SEGMENT_KEY_RULE, normalised_filter, segment_filter_problems
from appliance.customers.queries import get_segment
from appliance.customers.tables import Segment
from appliance.events.envelope import Subject


def _check(actor: Actor) -> None:
    if not actor.can(Permission.customers_write):
        raise Forbidden(f"this needs the permission {Permission.customers_write.value}")


def _subject(segment_id: UUID) -> Subject:
    return Subject("segment", str(segment_id))


async def create_segment(data: schemas.SegmentCreate, *, actor: Actor) -> schemas.Segment:
    """A saved filter; a key another segment has is 409 segment_key_taken."""
    _check(actor)
    problems = segment_filter_problems(data.filter)
    if not SEGMENT_KEY.match(data.key):
        problems["key"] = SEGMENT_KEY_RULE
    if not data.name.strip():
        problems["name"] = "required"
    if problems:
        raise Invalid(problems)
    now = utc_now()
    segment_id = uuid4()
    try:
        async with write_transaction():
            if await Segment.exists().where(Segment.key == data.key):
                raise Conflict("another segment has this key", code="segment_key_taken")
            await Segment.insert(Segment(
                id=segment_id, key=data.key, name=data.name.strip(), filter=msgspec.to_builtins(normalised_filter(data.filter)),
                revision=1, created_at=now, updated_at=now,
            ))
            await record_change(
                "segment.created", _subject(segment_id), {"segment_id": str(segment_id), "key": data.key}, actor=actor,
                changed_fields=["key", "name", "filter"],
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise Conflict("another segment has this key", code="segment_key_taken") from None
        raise
    return await get_segment(segment_id)


async def update_segment(segment_id: UUID, data: schemas.SegmentUpdate, *, actor: Actor) -> schemas.Segment:
    _check(actor)
    values: dict[Any, Any] = {}
    problems: dict[str, str] = {}
    if data.name is not msgspec.UNSET:
        values[Segment.name] = data.name.strip()
        if not values[Segment.name]:
            problems["name"] = "required"
    if data.filter is not msgspec.UNSET:
        problems |= segment_filter_problems(data.filter)
        values[Segment.filter] = msgspec.to_builtins(normalised_filter(data.filter))
    if problems:
        raise Invalid(problems)
    async with write_transaction():
        current = await get_segment(segment_id)
        if values:
            await Segment.update({
                **values, Segment.revision: current.revision + 1, Segment.updated_at: utc_now(),
            }).where(Segment.id == segment_id)
            changed = sorted(column._meta.name for column in values)
            await record_change(
                "segment.updated", _subject(segment_id), {"segment_id": str(segment_id), "key": current.key,
                                                          "changed_fields": changed},
                actor=actor, changed_fields=changed,
            )
    return await get_segment(segment_id)


async def delete_segment(segment_id: UUID, *, actor: Actor) -> None:
    """Gone; rules naming its key no longer match it."""
    _check(actor)
    async with write_transaction():
        removed = await Segment.delete().where(Segment.id == segment_id).returning(Segment.key)
        if not removed:
            raise NotFound("no such segment")
        await record_change(
            "segment.deleted", _subject(segment_id), {"segment_id": str(segment_id), "key": removed[0]["key"]},
            actor=actor, changed_fields=["key"],
        )


async def record_export(segment_id: UUID, *, actor: Actor) -> schemas.Segment:
    """Audit that the segment's customers are being exported (personal data leaves the appliance)."""
    if not actor.can(Permission.customers_export):
        raise Forbidden(f"this needs the permission {Permission.customers_export.value}")
    async with write_transaction():
        segment = await get_segment(segment_id)
        await record_change(
            "segment.exported", _subject(segment_id), {"segment_id": str(segment_id), "key": segment.key}, actor=actor,
            changed_fields=[],
        )
    return segment
