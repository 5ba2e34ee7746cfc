"""The transactional outbox: events written with the change that caused them, relayed afterwards."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Integer, Timestamptz, Varchar
from piccolo.table import Table


class OutboxEvent(Table):
    id = UUID(primary_key=True)  # the event id, also the idempotency key of every handler
    type = Varchar(length=64, index=True)
    version = Integer(default=1)
    occurred_at = Timestamptz(index=True)
    actor = JSON(default={})
    subject = JSON(default={})
    data = JSON(default={})
    # Set by the relay once the event is handed to the broker (automation issue); null means pending.
    dispatched_at = Timestamptz(null=True, default=None, index=True)
