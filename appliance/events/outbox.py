"""Writing events to the outbox, inside the caller's transaction; each is handed to the broker for fan-out
once that transaction commits (and found by the sweeper should that hand-over fail)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import msgspec

from appliance.auth.actor import Actor
from appliance.core.clock import utc_now
from appliance.core.db import after_commit
from appliance.events.envelope import Envelope, Subject
from appliance.events.tables import OutboxEvent
from appliance.worker.actors import enqueue


async def add_event(
    type: str, subject: Subject, data: dict[str, Any], *, actor: Actor, version: int = 1
) -> Envelope:
    """Queue an event; it becomes visible to subscribers only if the surrounding transaction commits."""
    envelope = Envelope(
        id=uuid4(),
        type=type,
        version=version,
        occurred_at=utc_now(),
        actor=actor.as_event_actor(),
        subject=subject,
        data=msgspec.to_builtins(data),
    )
    await OutboxEvent.insert(
        OutboxEvent(
            id=envelope.id,
            type=envelope.type,
            version=envelope.version,
            occurred_at=envelope.occurred_at,
            actor=envelope.actor,
            subject=msgspec.to_builtins(envelope.subject),
            data=envelope.data,
        )
    ).run()
    after_commit(lambda: enqueue("fan_out", str(envelope.id)))
    return envelope


def envelope_of(row: dict[str, Any]) -> Envelope:
    """Read an outbox row (as returned by a select) back into its envelope."""
    return msgspec.convert(
        {k: row[k] for k in ("id", "type", "version", "occurred_at", "actor", "subject", "data")},
        Envelope,
        strict=False,
    )
