"""The Dramatiq broker: Redis in production, in-memory with worker threads inside `appliance serve`
in embedded mode. Only this module knows which.

Messages carry ids only; the database (outbox, timers) holds the truth, so the in-memory broker
losing its queue on restart loses nothing that the sweeper will not re-dispatch.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

from appliance.audit.config import configure_audit
from appliance.core import db
from appliance.events.sweeper import run_sweeper
from appliance.notifications.channels import configure_channels
from appliance.worker import actors
from appliance.settings import Settings

EMBEDDED_WORKER_THREADS = 2
# How often idle consumer threads wake up; also bounds how long stopping takes.
IDLE_WAKE_MS = 250
# The in-memory broker's idle wake-up is a queue timeout, no round trip: waking often costs about 1% of a
# core while idle, and stopping (workers, then consumers, each joined after its next wake) takes 0.1 s, not 0.5.
EMBEDDED_IDLE_WAKE_MS = 50


class DatabasePoolPerWorker(Middleware):
    """Open a connection pool on the worker's own event loop (pools never cross loops)."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(db.start_pool())

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(db.close_pool())


def create_broker(settings: Settings) -> dramatiq.Broker:
    """The broker for this process, also made Dramatiq's global one so actors declare on it."""
    broker: dramatiq.Broker
    if settings.redis.url:
        broker = RedisBroker(url=settings.redis.url, namespace="appliance")  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    broker.add_middleware(DatabasePoolPerWorker())
    dramatiq.set_broker(broker)
    actors.bind(broker)
    configure_channels(settings)  # every process with a broker may deliver messages
    configure_audit(settings)  # and runs a sweeper, which seals and signs the audit log
    return broker


class InProcessWorker:
    """Worker threads inside the API process (embedded mode), started and stopped with the app."""

    def __init__(self, broker: dramatiq.Broker, threads: int = EMBEDDED_WORKER_THREADS) -> None:
        self.worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=EMBEDDED_IDLE_WAKE_MS)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout_ms: int = 10_000) -> None:
        self.worker.stop(timeout=timeout_ms)


class SweeperThread:
    """The sweeper on a thread of its own with its own event loop and pool (`appliance worker`)."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="sweeper", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._sweep())

    async def _sweep(self) -> None:
        self._stop = asyncio.Event()
        await db.start_pool()
        try:
            await run_sweeper(self._stop, self.interval)
        finally:
            await db.close_pool()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
