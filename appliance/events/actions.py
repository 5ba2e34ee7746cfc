"""The only code that writes deliveries: fan an event out to its subscribers, try one delivery, re-send
a dead one. Each step claims its row with a conditional update first, so a message handled twice (a
redelivery, the sweeper racing the broker) does the work once."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from appliance.auth.actor import Actor
from appliance.audit.trail import add_audit_entry
from appliance.core.clock import utc_now
from appliance.core.db import after_commit, json_value, write_transaction
from appliance.core.errors import Conflict, NotFound
from appliance.core.log import get_logger, redact_text
from appliance.events.envelope import Subject
from appliance.events.outbox import envelope_of
from appliance.events.retry import next_wait, rides_on_broker
from appliance.events.subscribers import Permanent, Retryable, subscriber, subscribers
from appliance.events.tables import Attempt, Delivery, OutboxEvent
from appliance.worker.actors import enqueue

_log = get_logger(__name__)

# A worker owns a running delivery for the longest subscriber timeout plus this; past it (a killed
# worker) the sweeper hands it on.
CLAIM_MARGIN = timedelta(seconds=10)
RESPONSE_CHARS = 500
_JSON_COLUMNS = ("actor", "subject", "data")  # RETURNING hands them over as text


def send_delivery(delivery_id: UUID, delay: timedelta | None = None) -> None:
    enqueue("deliver", str(delivery_id), delay=delay)


async def fan_out(event_id: UUID) -> list[UUID]:
    """One pending delivery per subscriber that wants the event, handed to the broker after commit.
    Returns the new deliveries' ids; none when the event was fanned out already (or does not exist)."""
    async with write_transaction():
        now = utc_now()
        claimed = await OutboxEvent.update({OutboxEvent.dispatched_at: now}).where(
            (OutboxEvent.id == event_id) & OutboxEvent.dispatched_at.is_null()
        ).returning(*OutboxEvent.all_columns())
        if not claimed:
            return []
        envelope = envelope_of({k: json_value(v) if k in _JSON_COLUMNS else v for k, v in claimed[0].items()})
        wanted = [s for s in subscribers() if _wants(s.key, s.wants, envelope)]
        ids = [uuid4() for _ in wanted]
        if wanted:
            await Delivery.insert(*(
                Delivery(
                    id=delivery_id, event=event_id, subscriber=s.key, status="pending", attempts=0,
                    created_at=now, updated_at=now,
                )
                for delivery_id, s in zip(ids, wanted, strict=True)
            ))
        for delivery_id in ids:
            after_commit(lambda delivery_id=delivery_id: send_delivery(delivery_id))  # type: ignore[misc]
    return ids


def _wants(key: str, wants: Any, envelope: Any) -> bool:
    """A subscriber whose filter raises is skipped for this event, not fatal to the others."""
    try:
        return bool(wants(envelope))
    except Exception:  # noqa: BLE001
        _log.warning("subscriber_filter_failed", subscriber=key, event_type=envelope.type, exc_info=True)
        return False


async def _claim(delivery_id: UUID, now: datetime) -> dict[str, Any] | None:
    """Take a due pending delivery, or a running one whose worker stopped answering. The claim outlasts
    the slowest subscriber's timeout, so it needs no read of which subscriber this one is."""
    claim = max((s.timeout for s in subscribers()), default=timedelta(seconds=30)) + CLAIM_MARGIN
    due = (Delivery.status == "pending") & (
        Delivery.next_attempt_at.is_null() | (Delivery.next_attempt_at <= now)
    )
    abandoned = (Delivery.status == "running") & (Delivery.claimed_until < now)
    async with write_transaction():
        rows = await Delivery.update({
            Delivery.status: "running", Delivery.claimed_until: now + claim, Delivery.attempts: Delivery.attempts + 1,
            Delivery.updated_at: now,
        }).where((Delivery.id == delivery_id) & (due | abandoned)).returning(
            Delivery.id, Delivery.event, Delivery.subscriber, Delivery.attempts
        )
    return rows[0] if rows else None


async def deliver(delivery_id: UUID, *, rng: random.Random | None = None) -> str:
    """Try one delivery now: "done", "retry", "dead", or "skipped" (not due, or someone else has it)."""
    started_at = utc_now()
    claimed = await _claim(delivery_id, started_at)
    if claimed is None:
        return "skipped"
    number = claimed["attempts"]
    target = subscriber(claimed["subscriber"])
    row = await OutboxEvent.select().where(OutboxEvent.id == claimed["event"]).output(load_json=True).first()
    began = time.perf_counter()
    outcome, response, retry_after = "success", "", None
    if target is None or row is None:
        outcome, response = "failed", "no such subscriber" if target is None else "event gone"
    else:
        try:
            await asyncio.wait_for(target.handle(envelope_of(row)), target.timeout.total_seconds())
        except Permanent as exc:
            outcome, response = "failed", _describe(exc)
        except (Retryable, TimeoutError) as exc:
            outcome, response = "retry", _describe(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one subscriber must not stop the worker
            _log.warning("subscriber_failed", subscriber=claimed["subscriber"], exc_info=True)
            outcome, response = "retry", _describe(exc)
    duration_ms = int((time.perf_counter() - began) * 1000)
    if outcome == "retry" and (retry_after := next_wait(number, rng)) is None:
        outcome = "failed"
        response = f"gave up after {number} attempts: {response}"[:RESPONSE_CHARS]
    return await _settle(delivery_id, number, started_at, duration_ms, outcome, response, retry_after)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact_text(text)[:RESPONSE_CHARS]


async def _settle(
    delivery_id: UUID, number: int, started_at: datetime, duration_ms: int, outcome: str, response: str,
    retry_after: timedelta | None,
) -> str:
    now = utc_now()
    status = {"success": "done", "retry": "pending", "failed": "dead"}[outcome]
    async with write_transaction():
        await Attempt.insert(Attempt(
            id=uuid4(), delivery=delivery_id, number=number, started_at=started_at, duration_ms=duration_ms,
            outcome=outcome, response=response,
        ))
        await Delivery.update({
            Delivery.status: status, Delivery.claimed_until: None, Delivery.updated_at: now,
            Delivery.next_attempt_at: now + retry_after if retry_after is not None else None,
            Delivery.last_error: "" if outcome == "success" else response,
            Delivery.completed_at: now if status == "done" else None,
        }).where(Delivery.id == delivery_id)
        if retry_after is not None and rides_on_broker(retry_after):
            after_commit(lambda: send_delivery(delivery_id, retry_after))
    return {"done": "done", "pending": "retry", "dead": "dead"}[status]


async def resend_delivery(delivery_id: UUID, *, actor: Actor) -> None:
    """A person sends a dead (or finished) delivery again: a fresh round of tries, audited."""
    async with write_transaction():
        now = utc_now()
        updated = await Delivery.update({
            Delivery.status: "pending", Delivery.next_attempt_at: None, Delivery.attempts: 0,
            Delivery.updated_at: now, Delivery.completed_at: None,
        }).where((Delivery.id == delivery_id) & Delivery.status.is_in(["dead", "done"])).returning(Delivery.id)
        if not updated:
            if not await Delivery.exists().where(Delivery.id == delivery_id):
                raise NotFound("no such delivery")
            raise Conflict("the delivery is still being tried", code="delivery_in_progress")
        await add_audit_entry(
            "delivery.resent", actor=actor, target=Subject("delivery", str(delivery_id)), changed_fields=["status"]
        )
        after_commit(lambda: send_delivery(delivery_id))
