"""Recording audit entries; `record_change` also writes the matching outbox event, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal
from uuid import UUID, uuid4

from appliance.auth.actor import Actor
from appliance.core.clock import utc_now
from appliance.core.db import insert_at_commit, json_text, write_transaction
from appliance.events.envelope import Envelope, Subject
from appliance.events.outbox import add_event

Result = Literal["success", "failure", "denied"]
_COLUMNS = (
    "id", "occurred_at", "actor_kind", "actor_id", "actor_label", "auth_method", "ip", "request_id", "action",
    "target_type", "target_id", "result", "reason", "changed_fields", "details",
)


async def add_audit_entry(
    action: str,
    *,
    actor: Actor,
    target: Subject | None = None,
    result: Result = "success",
    reason: str = "",
    changed_fields: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
) -> UUID:
    """One audit entry, written when the surrounding transaction commits (with its other entries and
    events, in one statement on PostgreSQL), so not visible before; returns its id. `details` holds
    only non-personal values (ids, statuses, counts)."""
    entry_id = uuid4()
    await insert_at_commit("audit_entry", _COLUMNS, (
        entry_id, utc_now(), actor.kind, actor.id, actor.label, actor.auth_method, actor.ip, actor.request_id,
        action, target.type if target else "", target.id if target else None, result, reason,
        json_text(sorted(changed_fields)), json_text(dict(details or {})),
    ))
    return entry_id


async def record_change(
    action: str,
    subject: Subject,
    data: dict[str, Any],
    *,
    actor: Actor,
    changed_fields: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
    reason: str = "",
) -> Envelope:
    """The audit entry and outbox event of a successful write, joined to the caller's transaction.
    `reason` is the why a person gave (an MFA reset, an erasure): audited, not put in the event."""
    async with write_transaction():
        await add_audit_entry(
            action, actor=actor, target=subject, changed_fields=changed_fields, details=details, reason=reason
        )
        return await add_event(action, subject, data, actor=actor)


async def record_failure(
    action: str, *, actor: Actor, reason: str, target: Subject | None = None, result: Result = "failure"
) -> None:
    """An attempt that changed nothing (failed login, denied permission), in a transaction of its own."""
    async with write_transaction():
        await add_audit_entry(action, actor=actor, target=target, result=result, reason=reason)


async def record_reveal(
    action: str, *, actor: Actor, fields: Iterable[str], target: Subject | None = None, details: Mapping[str, Any] | None = None
) -> None:
    """Personal data opened (field encryption) and shown to someone: a list or a detail. In a transaction
    of its own; `details` holds which records (ids, counts) and `fields` which fields, never a value."""
    async with write_transaction():
        await add_audit_entry(action, actor=actor, target=target, details={**(details or {}), "fields": sorted(fields)})
