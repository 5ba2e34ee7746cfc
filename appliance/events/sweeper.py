"""The sweeper: hands on whatever the broker did not get or lost — events not fanned out, deliveries due
again (parked retries, messages lost with an in-memory broker, claims of killed workers) — and fires
due timers. Runs every few seconds: inside `appliance serve` in embedded mode, inside `appliance
worker` in production, where a PostgreSQL advisory lock lets one process at a time choose what to
hand on. Firing timers runs outside that lock: each batch claims its timers with a conditional
update, so two sweepers never fire one twice. Other packages hand it steps of their own: every pass
(sealing the audit log) and housekeeping now and then (purging, archiving).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from piccolo.querystring import QueryString

from appliance.core.clock import utc_now
from appliance.core.db import current_dialect, current_engine, write_transaction
from appliance.core.log import get_logger
from appliance.events.outbox import hand_over
from appliance.events.tables import Delivery, OutboxEvent
from appliance.events.timers import fire_due_timers
from appliance.worker.actors import enqueue

_log = get_logger(__name__)

INTERVAL = timedelta(seconds=5)
# What was handed to the broker this recently is left to it: the sweeper picks up only the overdue.
GRACE = timedelta(seconds=10)
BATCH = 500
_LOCK_KEY = 0x61707077  # "appw": one sweeper at a time across every process sharing the database


# Steps other packages hand the sweeper, by import path so this package does not depend on theirs; each
# takes the time and returns how many rows it handled. Every pass: sealing the audit log (and signing its
# checkpoints), resuming imports, deriving the report rollups that changes marked stale (the oldest first). Housekeeping, at most once per HOUSEKEEPING_EVERY: purging what must not be kept,
# archiving what is kept elsewhere.
EVERY_PASS = {
    "audit entries sealed": "appliance.audit.sealing:seal_and_checkpoint",
    "imports resumed": "appliance.imports.actions:resume_imports",
    "report marks refreshed": "appliance.reports.stale:refresh_oldest",
}
HOUSEKEEPING = {
    "idempotency records": "appliance.bookings.idempotency:purge_expired_records",
    "audit entries archived": "appliance.audit.actions:archive_expired",
    "expired points": "appliance.customers.points:expire_points",
}
HOUSEKEEPING_EVERY = timedelta(minutes=10)


@dataclass(frozen=True)
class Swept:
    events: int = 0
    deliveries: int = 0
    timers: int = 0
    skipped: bool = False  # another process holds the sweeper lock


async def _locked_elsewhere() -> bool:
    """Take the transaction's advisory lock; True when another sweeper has it (PostgreSQL only)."""
    if current_dialect() != "postgresql":
        return False
    rows = await current_engine().run_querystring(
        QueryString("SELECT pg_try_advisory_xact_lock({}) AS taken", _LOCK_KEY)
    )
    return not rows[0]["taken"]


async def sweep(now: datetime | None = None) -> Swept:
    """One pass. Sends messages only; the handlers claim their rows, so a duplicate does no harm. What it
    hands on is marked, so the next passes leave it to the broker for another grace period."""
    now = now or utc_now()
    overdue = now - GRACE
    async with write_transaction():
        if await _locked_elsewhere():
            return Swept(skipped=True)
        events = await OutboxEvent.select(OutboxEvent.id).where(
            OutboxEvent.dispatched_at.is_null() & (OutboxEvent.occurred_at < overdue)
            & (OutboxEvent.swept_at.is_null() | (OutboxEvent.swept_at < overdue))
        ).order_by(OutboxEvent.occurred_at).limit(BATCH)
        if events:
            await OutboxEvent.update({OutboxEvent.swept_at: now}).where(OutboxEvent.id.is_in([r["id"] for r in events]))
        deliveries = await Delivery.select(Delivery.id).where(
            ((Delivery.status == "pending") & (
                (Delivery.next_attempt_at.is_null() & (Delivery.updated_at < overdue))
                | (Delivery.next_attempt_at < overdue)
            ))
            | ((Delivery.status == "running") & (Delivery.claimed_until < now))
        ).order_by(Delivery.updated_at).limit(BATCH)
        if deliveries:
            # Due now (a parked retry whose time came, or the work of a worker that stopped answering).
            await Delivery.update({
                Delivery.status: "pending", Delivery.next_attempt_at: None, Delivery.claimed_until: None,
                Delivery.updated_at: now,
            }).where(Delivery.id.is_in([r["id"] for r in deliveries]))
    # Fired timers become events, which are handed to the broker when their batch commits.
    timers = await fire_due_timers(now)
    hand_over([str(row["id"]) for row in events])
    for row in deliveries:
        enqueue("deliver", str(row["id"]))
    if events or deliveries or timers:
        _log.info("swept", events=len(events), deliveries=len(deliveries), timers=timers)
    return Swept(events=len(events), deliveries=len(deliveries), timers=timers)


async def _run_steps(steps: dict[str, str], now: datetime) -> dict[str, int]:
    """Run each step once; one that fails is logged and counted as 0, and the others still run."""
    done = {}
    for name, target in steps.items():
        module, _, function = target.partition(":")
        job: Callable[[datetime], Awaitable[int]] = getattr(importlib.import_module(module), function)
        try:
            done[name] = await job(now)
        except Exception:  # noqa: BLE001 - one package's trouble must not stop another's step
            _log.warning("sweeper_step_failed", step=name, exc_info=True)
            done[name] = 0
    return done


async def every_pass(now: datetime | None = None) -> dict[str, int]:
    """Run the steps of every pass once; returns how many rows each handled."""
    return await _run_steps(EVERY_PASS, now or utc_now())


async def housekeeping(now: datetime | None = None) -> dict[str, int]:
    """Run every housekeeping job once; returns how many rows each removed."""
    done = await _run_steps(HOUSEKEEPING, now or utc_now())
    if any(done.values()):
        _log.info("housekeeping", **{name.replace(" ", "_"): count for name, count in done.items()})
    return done


async def run_sweeper(stop: asyncio.Event, interval: timedelta = INTERVAL) -> None:
    """Sweep every `interval` until `stop` is set; a failing pass is logged and the next one tried."""
    kept_house_at: datetime | None = None
    while not stop.is_set():
        try:
            await sweep()
            await every_pass()
            if kept_house_at is None or utc_now() - kept_house_at >= HOUSEKEEPING_EVERY:
                kept_house_at = utc_now()
                await housekeeping(kept_house_at)
        except Exception:  # noqa: BLE001 - the database may be restarting; keep sweeping
            _log.warning("sweep_failed", exc_info=True)
        try:
            await asyncio.wait_for(stop.wait(), interval.total_seconds())
        except TimeoutError:
            pass
