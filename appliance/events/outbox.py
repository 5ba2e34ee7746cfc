"""Writing events to the outbox, inside the caller's transaction; each is handed to the broker for fan-out
once that transaction commits (and found by the sweeper should that hand-over fail)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import msgspec

from appliance.auth.actor import Actor
from appliance.core.clock import utc_now
from appliance.core.db import after_commit
from appliance.events.envelope import Envelope, Subject
from appliance.events.listeners import notify_listeners
from appliance.events.tables import OutboxEvent
from appliance.worker.actors import enqueue


async def add_event(
    type: str, subject: Subject, data: dict[str, Any], *, actor: Actor, version: int = 1
) -> Envelope:
    """Queue an event; it becomes visible to subscribers only if the surrounding transaction commits."""
    [envelope] = await add_events(type, [(subject, data)], actor=actor, version=version)
    return envelope


async def add_events(
    type: str, items: Sequence[tuple[Subject, dict[str, Any]]], *, actor: Actor, version: int = 1
) -> list[Envelope]:
    """Queue several events of one type in one statement (a batch of fired timers)."""
    occurred_at = utc_now()
    envelopes = [
        Envelope(
            id=uuid4(), type=type, version=version, occurred_at=occurred_at, actor=actor.as_event_actor(),
            subject=subject, data=msgspec.to_builtins(data),
        )
        for subject, data in items
    ]
    if not envelopes:
        return []
    await OutboxEvent.insert(*(
        OutboxEvent(
            id=e.id, type=e.type, version=e.version, occurred_at=e.occurred_at, actor=e.actor,
            subject=msgspec.to_builtins(e.subject), data=e.data,
        )
        for e in envelopes
    )).run()
    for envelope in envelopes:
        await notify_listeners(envelope)
        after_commit(lambda event_id=str(envelope.id): enqueue("fan_out", event_id))  # type: ignore[misc]
    return envelopes


def envelope_of(row: dict[str, Any]) -> Envelope:
    """Read an outbox row (as returned by a select) back into its envelope."""
    return msgspec.convert(
        {k: row[k] for k in ("id", "type", "version", "occurred_at", "actor", "subject", "data")},
        Envelope,
        strict=False,
    )
