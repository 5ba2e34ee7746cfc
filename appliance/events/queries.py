"""Reads of deliveries and their attempts (for operators: what was sent where, what is stuck)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from appliance.core.errors import NotFound
from appliance.core.pagination import split_page
from appliance.events import schemas
from appliance.events.tables import Attempt, Delivery


@dataclass(frozen=True)
class DeliveryFilter:
    status: str | None = None
    subscriber: str | None = None
    event_type: str | None = None


_COLUMNS = (
    Delivery.id, Delivery.event, Delivery.event.type, Delivery.subscriber, Delivery.status, Delivery.attempts,
    Delivery.next_attempt_at, Delivery.last_error, Delivery.created_at, Delivery.updated_at, Delivery.completed_at,
)


def _delivery(row: dict[str, Any]) -> schemas.Delivery:
    return schemas.Delivery(
        id=row["id"], event_id=row["event"], event_type=row["event.type"], subscriber=row["subscriber"],
        status=row["status"], attempts=row["attempts"], next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"], created_at=row["created_at"], updated_at=row["updated_at"],
        completed_at=row["completed_at"],
    )


async def list_deliveries(
    filters: DeliveryFilter, *, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[schemas.Delivery], tuple[datetime, UUID] | None]:
    """Newest first; `after` is the (created_at, id) of the previous page's last row."""
    query = Delivery.select(*_COLUMNS).order_by(Delivery.created_at, Delivery.id, ascending=False).limit(limit + 1)
    if filters.status:
        query = query.where(Delivery.status == filters.status)
    if filters.subscriber:
        query = query.where(Delivery.subscriber == filters.subscriber)
    if filters.event_type:
        query = query.where(Delivery.event.type == filters.event_type)
    if after is not None:
        created_at, last_id = after
        query = query.where(
            (Delivery.created_at < created_at) | ((Delivery.created_at == created_at) & (Delivery.id < last_id))
        )
    rows, last = split_page(await query, limit)
    return [_delivery(r) for r in rows], (last["created_at"], last["id"]) if last else None


async def get_delivery(delivery_id: UUID) -> schemas.DeliveryDetail:
    row = await Delivery.select(*_COLUMNS).where(Delivery.id == delivery_id).first()
    if row is None:
        raise NotFound("no such delivery")
    attempts = await Attempt.select().where(Attempt.delivery == delivery_id).order_by(Attempt.number, Attempt.started_at)
    return schemas.DeliveryDetail(
        **{f: getattr(_delivery(row), f) for f in schemas.Delivery.__struct_fields__},
        attempt_log=[
            schemas.AttemptOut(
                number=a["number"], started_at=a["started_at"], duration_ms=a["duration_ms"], outcome=a["outcome"],
                response=a["response"],
            )
            for a in attempts
        ],
    )
