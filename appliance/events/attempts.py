"""Recording finished tries: each one's attempt row and its delivery's new state, committed together.

Tries that finish in the same turn of a worker's event loop (the deliveries of a fan-out batch, those of
concurrent messages) are recorded in one statement on PostgreSQL, one write transaction on SQLite: a
round trip per turn instead of one per try. Slow tries finish in turns of their own, so nobody waits
for them; a batch that fails is recorded try by try, so one bad row never loses another's record.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from appliance.core.clock import utc_now
from appliance.core.db import after_commit, current_dialect, in_transaction, insert_rows, run_sql, write_transaction
from appliance.events.retry import rides_on_broker
from appliance.worker.actors import enqueue

STATUS_AFTER = {"success": "done", "retry": "pending", "failed": "dead"}

_ATTEMPT_COLUMNS = ("id", "delivery", "number", "started_at", "duration_ms", "outcome", "response")
_UPDATE_DELIVERY = (
    "UPDATE delivery SET status = {}, claimed_until = NULL, updated_at = {}, next_attempt_at = {}, last_error = {},"
    " completed_at = {} WHERE id = {}"
)
# PostgreSQL: every try of the batch in one statement (its own transaction), whatever their number, so
# the text is prepared once per connection.
_RECORD_ALL = """
WITH tried AS (
  SELECT * FROM unnest({}::uuid[], {}::uuid[], {}::int[], {}::timestamptz[], {}::int[], {}::text[], {}::text[],
                       {}::text[], {}::timestamptz[], {}::timestamptz[])
    AS t(attempt, delivery, number, started_at, duration_ms, outcome, response, status, next_attempt_at,
         completed_at)
), attempts AS (
  INSERT INTO attempt (id, delivery, number, started_at, duration_ms, outcome, response)
  SELECT attempt, delivery, number, started_at, duration_ms, outcome, response FROM tried
)
UPDATE delivery SET status = tried.status, claimed_until = NULL, updated_at = {},
  next_attempt_at = tried.next_attempt_at,
  last_error = CASE WHEN tried.outcome = 'success' THEN '' ELSE tried.response END, completed_at = tried.completed_at
FROM tried WHERE delivery.id = tried.delivery
"""


@dataclass(frozen=True)
class Tried:
    """One finished try of a claimed delivery."""

    delivery_id: UUID
    number: int
    started_at: datetime
    duration_ms: int
    outcome: str  # success | retry | failed
    response: str
    retry_after: timedelta | None  # for a retry: the wait before the next try


def send_delivery(delivery_id: UUID, delay: timedelta | None = None) -> None:
    enqueue("deliver", str(delivery_id), delay=delay)


async def record(tried: Tried) -> str:
    """Record the try; returns once it is committed (inside a caller's transaction: with it), with the
    delivery's new status. A retry that rides on the broker is sent once recorded."""
    if in_transaction():
        await _write([tried])
        return STATUS_AFTER[tried.outcome]
    loop = asyncio.get_running_loop()
    recorded: asyncio.Future[None] = loop.create_future()
    if (waiting := _waiting.get(loop)) is None:
        waiting = _waiting[loop] = []
        # A context of its own: the batch must not run inside whatever transaction its first caller's
        # context might name.
        loop.call_soon(_flush_waiting, loop, context=contextvars.Context())
    waiting.append((tried, recorded))
    await recorded
    return STATUS_AFTER[tried.outcome]


_Waiting = list[tuple[Tried, "asyncio.Future[None]"]]
_waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waiting] = weakref.WeakKeyDictionary()
_flushing: set[asyncio.Task[None]] = set()  # running batches, kept from the garbage collector


def _flush_waiting(loop: asyncio.AbstractEventLoop) -> None:
    batch = _waiting.pop(loop, [])
    flush = loop.create_task(_flush(batch))
    _flushing.add(flush)
    flush.add_done_callback(_flushing.discard)


async def _flush(batch: _Waiting) -> None:
    try:
        await _write([tried for tried, _ in batch])
    except Exception as exc:  # noqa: BLE001 - handed to the waiting tries, or retried one by one
        if len(batch) == 1:
            _resolve(batch[0][1], exc)
            return
        for tried, recorded in batch:
            try:
                await _write([tried])
            except Exception as one:  # noqa: BLE001 - this try's own trouble, for its caller
                _resolve(recorded, one)
            else:
                _resolve(recorded, None)
        return
    for _, recorded in batch:
        _resolve(recorded, None)


def _resolve(recorded: asyncio.Future[None], error: BaseException | None) -> None:
    if recorded.done():  # its caller was cancelled meanwhile
        return
    if error is None:
        recorded.set_result(None)
    else:
        recorded.set_exception(error)


async def _write(tries: list[Tried]) -> None:
    """Attempt rows and delivery states of these tries, together; retries on the broker sent after commit."""
    now = utc_now()
    tries = sorted(tries, key=lambda t: t.delivery_id)  # rows locked in one order by every batch
    attempts = [
        (uuid4(), t.delivery_id, t.number, t.started_at, t.duration_ms, t.outcome, t.response) for t in tries
    ]
    states = [
        (
            STATUS_AFTER[t.outcome], now + t.retry_after if t.retry_after is not None else None,
            now if t.outcome == "success" else None,
        )
        for t in tries
    ]
    if current_dialect() == "postgresql":
        columns = [list(column) for column in zip(*attempts, strict=True)]
        columns += [list(column) for column in zip(*states, strict=True)]
        await run_sql(_RECORD_ALL, *columns, now)
        _send_retries(tries)
        return
    async with write_transaction():
        await insert_rows(("attempt", _ATTEMPT_COLUMNS, attempts))
        for t, (status, next_attempt_at, completed_at) in zip(tries, states, strict=True):
            last_error = "" if t.outcome == "success" else t.response
            await run_sql(_UPDATE_DELIVERY, status, now, next_attempt_at, last_error, completed_at, t.delivery_id)
        _send_retries(tries)


def _send_retries(tries: list[Tried]) -> None:
    for t in tries:
        if t.retry_after is not None and rides_on_broker(t.retry_after):
            after_commit(lambda t=t: send_delivery(t.delivery_id, t.retry_after))  # type: ignore[misc]
