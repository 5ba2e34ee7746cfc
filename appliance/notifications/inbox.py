"""Staff's in-app inbox: messages land per user; each person lists and marks only their own.

Marking read is the reader's own bookkeeping, like a session's last use: not audited, no event."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from piccolo.custom_types import Combinable

from appliance.core.clock import utc_now
from appliance.core.db import uuid_value
from appliance.core.errors import NotFound
from appliance.core.pagination import split_page
from appliance.core.crypto.registry import open_value, seal_value
from appliance.notifications import schemas
from appliance.notifications.tables import InboxItem


async def deliver_to_inbox(message_id: UUID, user_id: UUID, booking_id: UUID | None, subject: str, body: str) -> None:
    """Put a message in a user's inbox once: a redelivered message adds nothing."""
    item_id = uuid4()
    # The body names the customer (staff notices): sealed. The subject is the template's, without them.
    await InboxItem.insert(InboxItem(
        id=item_id, user=user_id, message=message_id, delivery_key=f"{message_id}:{user_id}", booking=booking_id,
        subject=subject[:300], body=seal_value("inbox_item", "body", item_id, body) if body else "", created_at=utc_now(),
    )).on_conflict(target=InboxItem.delivery_key, action="DO NOTHING")


def _item(row: dict[str, Any]) -> schemas.InboxItem:
    return schemas.InboxItem(
        id=uuid_value(row["id"]), subject=row["subject"],
        body=open_value("inbox_item", "body", row["id"], row["body"]) if row["body"] else "",
        booking_id=uuid_value(row["booking"]) if row["booking"] else None, created_at=row["created_at"],
        read_at=row["read_at"],
    )


async def list_inbox(
    user_id: UUID, *, unread_only: bool, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[schemas.InboxItem], tuple[datetime, UUID] | None]:
    """Newest first; the page and the (created_at, id) to continue after when more follow."""
    where: Combinable = InboxItem.user == user_id
    if unread_only:
        where &= InboxItem.read_at.is_null()
    if after is not None:
        at, last_id = after
        where &= (InboxItem.created_at < at) | ((InboxItem.created_at == at) & (InboxItem.id < last_id))
    rows = await InboxItem.select().where(where).order_by(InboxItem.created_at, InboxItem.id, ascending=False).limit(
        limit + 1
    )
    page, last = split_page(rows, limit)
    return [_item(r) for r in page], (last["created_at"], uuid_value(last["id"])) if last else None


async def mark_read(item_id: UUID, *, user_id: UUID) -> schemas.InboxItem:
    """Someone else's item is as unknown as one that does not exist."""
    mine = (InboxItem.id == item_id) & (InboxItem.user == user_id)
    await InboxItem.update({InboxItem.read_at: utc_now()}).where(mine & InboxItem.read_at.is_null())
    row = await InboxItem.select().where(mine).first()
    if row is None:
        raise NotFound("no such inbox item")
    return _item(row)
