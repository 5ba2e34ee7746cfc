"""Writing events to the outbox, inside the caller's transaction; they are handed to the broker for fan-out
once that transaction commits (and found by the sweeper should that hand-over fail)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import msgspec

from appliance.auth.actor import Actor
from appliance.core.clock import utc_now
from appliance.core.db import after_commit_collect, insert_at_commit, json_text
from appliance.core.log import get_logger
from appliance.events.envelope import Envelope, Subject
from appliance.events.listeners import notify_listeners
from appliance.worker.actors import enqueue

# Events handed over together (one transaction's, or one sweep's) travel up to this many to a `fan_out`
# message: a burst costs a message per batch rather than per event, and still spreads over the workers.
HAND_OVER_BATCH = 20
# How long committed events wait for others to share their message. Under load a booking's events then
# travel with those of the next few: in the benchmark (32 clients, two runs of 4,000 bookings each way) the
# worker's CPU per booking fell from 1.3-1.9 ms to 1.0-1.1 ms, for 20 ms more before subscribers act;
# bookings per second moved within the machine's noise.
HAND_OVER_WAIT = 0.02  # seconds
_log = get_logger(__name__)
_COLUMNS = ("id", "type", "version", "occurred_at", "actor", "subject", "data")


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
    for e in envelopes:
        await insert_at_commit("outbox_event", _COLUMNS, (
            e.id, e.type, e.version, e.occurred_at, json_text(e.actor), json_text(msgspec.to_builtins(e.subject)),
            json_text(e.data),
        ))
    for envelope in envelopes:
        await notify_listeners(envelope)
    # One hand-over for all the events of the transaction (a booking and its new customer: one message).
    after_commit_collect("outbox.hand_over", [str(envelope.id) for envelope in envelopes], hand_over)
    return envelopes


def hand_over(event_ids: Sequence[str]) -> None:
    """Send these events to the broker for fan-out, `HAND_OVER_BATCH` to a message. In an event loop the
    sending waits `HAND_OVER_WAIT`, so the events of every transaction that commits meanwhile (concurrent
    requests) share messages: under load a message per several bookings, not one each, in the API (a
    Redis round trip each) and in the worker (a fetch, a claim and an insert each). Lost with the process
    in between, they are the sweeper's, as any events whose hand-over failed; a server stopping sends them
    first (`hand_over_now`)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _send(event_ids)
        return
    if (waiting := _waiting.get(loop)) is None:
        waiting = _waiting[loop] = []
        loop.call_later(HAND_OVER_WAIT, _send_waiting, loop)
    waiting.extend(event_ids)


def hand_over_now() -> None:
    """Send at once the events of this event loop that wait for their message (a server shutting down)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if loop in _waiting:
        _send_waiting(loop)  # the scheduled send then finds nothing left


_waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[str]] = weakref.WeakKeyDictionary()


def _send_waiting(loop: asyncio.AbstractEventLoop) -> None:
    try:
        _send(_waiting.pop(loop, []))
    except Exception:  # noqa: BLE001 - the sweeper hands them over later
        _log.warning("hand_over_failed", exc_info=True)


def _send(event_ids: Sequence[str]) -> None:
    for at in range(0, len(event_ids), HAND_OVER_BATCH):
        enqueue("fan_out", *event_ids[at:at + HAND_OVER_BATCH])


def envelope_of(row: dict[str, Any]) -> Envelope:
    """Read an outbox row (as returned by a select) back into its envelope."""
    return msgspec.convert(
        {k: row[k] for k in ("id", "type", "version", "occurred_at", "actor", "subject", "data")},
        Envelope,
        strict=False,
    )
