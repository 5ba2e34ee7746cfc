"""The only code that writes deliveries: fan events out to their subscribers, try one delivery, re-send
a dead one. Each step claims its row with a conditional update first, so a message handled twice (a
redelivery, the sweeper racing the broker) does the work once.

The worker's fan-out (`fan_out_and_deliver`) also makes each delivery's first try itself, without a
second message: the deliveries are created already claimed by it, atomically with the claim of their
event (one statement on PostgreSQL), and each is then tried on its own, all of them at once, so one
subscriber's failure or slowness holds up no other (tries that finish together are recorded together:
see `attempts`). Should the worker die after that commit, the claims lapse and the sweeper hands the
deliveries on, as it does for a worker killed in the middle of any delivery. Retries, the sweeper's
hand-overs and re-sends go through `deliver`, one message per try.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from appliance.auth.actor import Actor
from appliance.audit.trail import add_audit_entry
from appliance.core.clock import utc_now
from appliance.core.db import after_commit, current_dialect, json_value, run_sql, write_transaction
from appliance.core.errors import Conflict, NotFound
from appliance.core.log import get_logger, redact_text
from appliance.events import queries, schemas
from appliance.events.attempts import Tried, record, send_delivery
from appliance.events.envelope import Envelope, Subject
from appliance.events.outbox import envelope_of
from appliance.events.retry import next_wait
from appliance.events.subscribers import Permanent, Retryable, Subscriber, subscriber, subscribers
from appliance.events.tables import Delivery

_log = get_logger(__name__)

# A worker owns a running delivery for the longest subscriber timeout plus this; past it (a killed
# worker) the sweeper hands it on.
CLAIM_MARGIN = timedelta(seconds=10)
RESPONSE_CHARS = 500
# First tries a worker process runs at once, whatever the number of its threads and the size of the
# batches: as many as before batching with the default 8 threads, twice over. A try waiting its turn so
# long that it could no longer finish within its claim is handed to the broker instead.
FIRST_TRIES_AT_ONCE = 16
_JSON_COLUMNS = ("actor", "subject", "data")  # RETURNING hands them over as text

# The hot path's statements are written out: building them with the query builder cost more than
# running them. Placeholders are Piccolo's `{}`, so one text serves both engines.
_EVENT_COLUMNS = ("id", "type", "version", "occurred_at", "actor", "subject", "data")
_CLAIM_EVENTS = (
    "UPDATE outbox_event SET dispatched_at = {{}} WHERE id IN ({ids}) AND dispatched_at IS NULL"
    f" RETURNING {', '.join(_EVENT_COLUMNS)}"
)
# PostgreSQL reads the events first and then, in one statement (no transaction held over two round
# trips), claims them and creates the deliveries of only those it claimed: a concurrent copy of the
# message that claimed one first leaves its deliveries to that copy.
_UNDISPATCHED = (
    f"SELECT {', '.join(_EVENT_COLUMNS)} FROM outbox_event WHERE id = ANY({{}}::uuid[]) AND dispatched_at IS NULL"
)
_CLAIM_AND_CREATE = """
WITH claimed AS (
  UPDATE outbox_event SET dispatched_at = {} WHERE id = ANY({}::uuid[]) AND dispatched_at IS NULL RETURNING id
)
INSERT INTO delivery (id, event, subscriber, status, attempts, claimed_until, last_error, created_at, updated_at)
SELECT planned.id, planned.event, planned.subscriber, {}::varchar, {}::int, {}::timestamptz, '', {}::timestamptz,
       {}::timestamptz
  FROM unnest({}::uuid[], {}::uuid[], {}::varchar[]) AS planned(id, event, subscriber)
  JOIN claimed ON claimed.id = planned.event
RETURNING id
"""
_DELIVERY_COLUMNS = (
    "INSERT INTO delivery (id, event, subscriber, status, attempts, claimed_until, last_error, created_at,"
    " updated_at) VALUES "
)
_DELIVERY_ROW = "({}, {}, {}, {}, {}, {}, '', {}, {})"
# A retry's (or a sweeper hand-over's) claim: a due pending delivery, or a running one whose worker
# stopped answering. On PostgreSQL the claim reads its event in the same statement.
_CLAIM = (
    "UPDATE delivery SET status = 'running', claimed_until = {}, attempts = attempts + 1, updated_at = {}"
    " WHERE id = {} AND (status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= {})"
    " OR status = 'running' AND claimed_until < {}) RETURNING event, subscriber, attempts"
)
_CLAIM_WITH_EVENT = (
    f"WITH claimed AS ({_CLAIM}) SELECT claimed.subscriber, claimed.attempts,"
    f" {', '.join('e.' + column for column in _EVENT_COLUMNS)}"
    " FROM claimed LEFT JOIN outbox_event e ON e.id = claimed.event"
)
_SELECT_EVENT = f"SELECT {', '.join(_EVENT_COLUMNS)} FROM outbox_event WHERE id = {{}}"
# Gives back a first try's claim untried, unless the claim lapsed and someone else took the delivery since.
_RELEASE = (
    "UPDATE delivery SET status = 'pending', attempts = attempts - 1, claimed_until = NULL, updated_at = {}"
    " WHERE id = {} AND status = 'running' AND claimed_until = {}"
)


def claim_period() -> timedelta:
    """How long a worker owns a delivery it tries: it outlasts the slowest subscriber's timeout, so a
    claim needs no read of which subscriber the delivery is for."""
    return max((s.timeout for s in subscribers()), default=timedelta(seconds=30)) + CLAIM_MARGIN


@dataclass(frozen=True)
class _Planned:
    """A delivery the fan-out created: for whom, of what."""

    id: UUID
    target: Subscriber
    envelope: Envelope


async def _create_deliveries(event_ids: Sequence[UUID], claim: timedelta | None) -> tuple[list[_Planned], datetime]:
    """Claim those of the events not fanned out yet and create one delivery per subscriber that wants
    each, atomically: pending, or (with `claim`) already running for this worker's first try. Returns
    the deliveries and the end of their claim."""
    now = utc_now()
    claimed_until = now + (claim or timedelta(0))
    status, attempts, until = ("running", 1, claimed_until) if claim else ("pending", 0, None)
    if current_dialect() == "postgresql":
        if not (events := await run_sql(_UNDISPATCHED, list(event_ids))):
            return [], claimed_until
        planned = _plan(events)
        created = await run_sql(
            _CLAIM_AND_CREATE, now, [row["id"] for row in events], status, attempts, until, now, now,
            [p.id for p in planned], [p.envelope.id for p in planned], [p.target.key for p in planned],
        )
        ids = {row["id"] for row in created}  # those of events a concurrent copy of the message claimed first are not
        return [p for p in planned if p.id in ids], claimed_until
    async with write_transaction():
        claimed = await run_sql(_CLAIM_EVENTS.format(ids=", ".join(["{}"] * len(event_ids))), now, *event_ids)
        if planned := _plan(claimed):
            args: list[Any] = []
            for p in planned:
                args += (p.id, p.envelope.id, p.target.key, status, attempts, until, now, now)
            await run_sql(_DELIVERY_COLUMNS + ", ".join([_DELIVERY_ROW] * len(planned)), *args)
    return planned, claimed_until


def _plan(events: list[dict[str, Any]]) -> list[_Planned]:
    """A delivery for each subscriber that wants each of these events (outbox rows)."""
    everyone = subscribers()
    planned = []
    for row in events:
        envelope = _envelope(row)
        planned += [_Planned(uuid4(), s, envelope) for s in everyone if _wants(s.key, s.wants, envelope)]
    return planned


async def fan_out(event_id: UUID) -> list[UUID]:
    """One pending delivery per subscriber that wants the event, handed to the broker after commit.
    Returns the new deliveries' ids; none when the event was fanned out already (or does not exist)."""
    async with write_transaction():
        planned, _ = await _create_deliveries([event_id], None)
        for p in planned:
            after_commit(lambda delivery_id=p.id: send_delivery(delivery_id))  # type: ignore[misc]
    return [p.id for p in planned]


async def fan_out_and_deliver(event_ids: Sequence[UUID]) -> list[str]:
    """What the worker does with a `fan_out` message: fan the events out (those not fanned out yet) and
    try each new delivery once at once, each on its own; returns each try's outcome as `deliver` does
    ("error" for one whose outcome could not be recorded: its claim lapses, the sweeper hands it on)."""
    planned, claimed_until = await _create_deliveries(event_ids, claim_period())
    results = await asyncio.gather(*(_first_try(p, claimed_until) for p in planned), return_exceptions=True)
    outcomes = []
    for p, result in zip(planned, results, strict=True):
        if isinstance(result, BaseException):
            _log.warning("delivery_failed", delivery=str(p.id), subscriber=p.target.key, exc_info=result)
            outcomes.append("error")
        else:
            outcomes.append(result)
    return outcomes


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _first_try_turns() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if (turns := _turns.get(loop)) is None:
        turns = _turns[loop] = asyncio.Semaphore(FIRST_TRIES_AT_ONCE)
    return turns


async def _first_try(planned: _Planned, claimed_until: datetime) -> str:
    async with _first_try_turns():
        started_at = utc_now()
        if started_at + planned.target.timeout > claimed_until:
            # It waited too long for its turn to finish within its claim: handed on untried, as a pending
            # delivery (a worker stalled that long; the sweeper would hand it on once the claim lapses).
            async with write_transaction():
                if await run_sql(_RELEASE + " RETURNING id", started_at, planned.id, claimed_until):
                    after_commit(lambda: send_delivery(planned.id))
            return "skipped"
        return await _try(planned.id, planned.target, planned.envelope, 1, started_at)


def _wants(key: str, wants: Any, envelope: Any) -> bool:
    """A subscriber whose filter raises is skipped for this event, not fatal to the others."""
    try:
        return bool(wants(envelope))
    except Exception:  # noqa: BLE001
        _log.warning("subscriber_filter_failed", subscriber=key, event_type=envelope.type, exc_info=True)
        return False


async def _claim(delivery_id: UUID, now: datetime) -> tuple[dict[str, Any], Envelope | None] | None:
    """Take a due delivery (see `_CLAIM`); with its event, None when the event is gone."""
    args = (now + claim_period(), now, delivery_id, now, now)
    if current_dialect() == "postgresql":
        rows = await run_sql(_CLAIM_WITH_EVENT, *args)  # a transaction of its own
        if not rows:
            return None
        claimed, event = rows[0], rows[0]
    else:
        async with write_transaction():
            rows = await run_sql(_CLAIM, *args)
            if not rows:
                return None
            claimed = rows[0]
            events = await run_sql(_SELECT_EVENT, claimed["event"])
            event = events[0] if events else None
    envelope = _envelope(event) if event is not None and event["id"] is not None else None
    return claimed, envelope


def _envelope(row: dict[str, Any]) -> Envelope:
    """The envelope of an outbox row read by a hand-written statement (JSON as text)."""
    return envelope_of({k: json_value(row[k]) if k in _JSON_COLUMNS else row[k] for k in _EVENT_COLUMNS})


async def deliver(delivery_id: UUID, *, rng: random.Random | None = None) -> str:
    """Try one delivery now: "done", "retry", "dead", or "skipped" (not due, or someone else has it)."""
    started_at = utc_now()
    if (claim := await _claim(delivery_id, started_at)) is None:
        return "skipped"
    claimed, envelope = claim
    number, target = claimed["attempts"], subscriber(claimed["subscriber"])
    if target is None or envelope is None:
        response = "no such subscriber" if target is None else "event gone"
        return await _settle(Tried(delivery_id, number, started_at, 0, "failed", response, None))
    return await _try(delivery_id, target, envelope, number, started_at, rng)


async def _try(
    delivery_id: UUID, target: Subscriber, envelope: Envelope, number: int, started_at: datetime,
    rng: random.Random | None = None,
) -> str:
    """Run the handler of a claimed delivery and record how it went."""
    began = time.perf_counter()
    outcome, response, retry_after = "success", "", None
    try:
        async with asyncio.timeout(target.timeout.total_seconds()):
            await target.handle(envelope)
    except Permanent as exc:
        outcome, response = "failed", _describe(exc)
    except (Retryable, TimeoutError) as exc:
        outcome, response = "retry", _describe(exc)
    except Exception as exc:  # noqa: BLE001 - a bug in one subscriber must not stop the worker
        _log.warning("subscriber_failed", subscriber=target.key, exc_info=True)
        outcome, response = "retry", _describe(exc)
    duration_ms = int((time.perf_counter() - began) * 1000)
    if outcome == "retry" and (retry_after := next_wait(number, rng)) is None:
        outcome = "failed"
        response = f"gave up after {number} attempts: {response}"[:RESPONSE_CHARS]
    return await _settle(Tried(delivery_id, number, started_at, duration_ms, outcome, response, retry_after))


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact_text(text)[:RESPONSE_CHARS]


async def _settle(tried: Tried) -> str:
    """Record the try as an attempt and the delivery's new state, together; the outcome as `deliver` says it."""
    status = await record(tried)
    return {"done": "done", "pending": "retry", "dead": "dead"}[status]


async def resend_delivery(delivery_id: UUID, *, actor: Actor) -> schemas.DeliveryDetail:
    """A person sends a dead (or finished) delivery again: a fresh round of tries, audited. Returns it as
    the resend left it, read before the commit: the first try may start the moment it commits."""
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
        resent = await queries.get_delivery(delivery_id)
        after_commit(lambda: send_delivery(delivery_id))
    return resent
