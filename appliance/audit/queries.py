"""Reads of the audit log for compliance officers: filtered, newest first, a cursor per page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.columns.combination import WhereRaw
from piccolo.query import Select

from appliance.audit import schemas
from appliance.audit.tables import AuditEntry
from appliance.core.pagination import split_page


@dataclass(frozen=True)
class EntryFilter:
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before
    actor_id: str | None = None
    actor_kind: str | None = None
    action: str | None = None  # exact, or a prefix ending in "*": "booking.*"
    target_type: str | None = None
    target_id: str | None = None
    result: str | None = None


def _entry(row: dict[str, Any]) -> schemas.AuditEntry:
    return schemas.AuditEntry(
        id=row["id"], seq=row["seq"], occurred_at=row["occurred_at"], actor_kind=row["actor_kind"],
        actor_id=row["actor_id"], actor_label=row["actor_label"], auth_method=row["auth_method"], ip=row["ip"],
        request_id=row["request_id"], action=row["action"], target_type=row["target_type"],
        target_id=row["target_id"], result=row["result"], reason=row["reason"],
        changed_fields=list(row["changed_fields"]), details=dict(row["details"]),
    )


def _filtered(query: Select[AuditEntry], filters: EntryFilter) -> Select[AuditEntry]:
    conditions: list[Any] = []
    if filters.since is not None:
        conditions.append(AuditEntry.occurred_at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEntry.occurred_at < filters.until)
    if filters.actor_id:
        conditions.append(AuditEntry.actor_id == filters.actor_id)
    if filters.actor_kind:
        conditions.append(AuditEntry.actor_kind == filters.actor_kind)
    if filters.action:
        if filters.action.endswith("*"):  # not LIKE: "_" is a wildcard there, and action names are full of it
            prefix = filters.action[:-1]
            conditions.append(WhereRaw("substr(action, 1, {}) = {}", len(prefix), prefix))
        else:
            conditions.append(AuditEntry.action == filters.action)
    if filters.target_type:
        conditions.append(AuditEntry.target_type == filters.target_type)
    if filters.target_id:
        conditions.append(AuditEntry.target_id == filters.target_id)
    if filters.result:
        conditions.append(AuditEntry.result == filters.result)
    for condition in conditions:
        query = query.where(condition)
    return query


async def list_entries(
    filters: EntryFilter, *, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[schemas.AuditEntry], tuple[datetime, UUID] | None]:
    """Newest first; `after` is the (occurred_at, id) of the previous page's last entry."""
    query = _filtered(AuditEntry.select(), filters).order_by(
        AuditEntry.occurred_at, AuditEntry.id, ascending=False
    ).limit(limit + 1).output(load_json=True)
    if after is not None:
        occurred_at, last_id = after
        query = query.where(
            (AuditEntry.occurred_at < occurred_at)
            | ((AuditEntry.occurred_at == occurred_at) & (AuditEntry.id < last_id))
        )
    rows, last = split_page(await query, limit)
    return [_entry(r) for r in rows], (last["occurred_at"], last["id"]) if last else None
