"""Recording audit entries; `record_change` also writes the matching outbox event, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal
from uuid import uuid4

from appliance.auth.actor import Actor
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.events.envelope import Envelope, Subject
from appliance.events.outbox import add_event
from appliance.audit.tables import AuditEntry

Result = Literal["success", "failure", "denied"]


async def add_audit_entry(
    action: str,
    *,
    actor: Actor,
    target: Subject | None = None,
    result: Result = "success",
    reason: str = "",
    changed_fields: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
) -> None:
    """One audit entry. `details` holds only non-personal values (ids, statuses, counts)."""
    await AuditEntry.insert(
        AuditEntry(
            id=uuid4(),
            occurred_at=utc_now(),
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label,
            auth_method=actor.auth_method,
            ip=actor.ip,
            request_id=actor.request_id,
            action=action,
            target_type=target.type if target else "",
            target_id=target.id if target else None,
            result=result,
            reason=reason,
            changed_fields=sorted(changed_fields),
            details=dict(details or {}),
        )
    ).run()


async def record_change(
    action: str,
    subject: Subject,
    data: dict[str, Any],
    *,
    actor: Actor,
    changed_fields: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
) -> Envelope:
    """The audit entry and outbox event of a successful write, joined to the caller's transaction."""
    async with write_transaction():
        await add_audit_entry(
            action, actor=actor, target=subject, changed_fields=changed_fields, details=details
        )
        return await add_event(action, subject, data, actor=actor)


async def record_failure(
    action: str, *, actor: Actor, reason: str, target: Subject | None = None, result: Result = "failure"
) -> None:
    """An attempt that changed nothing (failed login, denied permission), in a transaction of its own."""
    async with write_transaction():
        await add_audit_entry(action, actor=actor, target=target, result=result, reason=reason)
