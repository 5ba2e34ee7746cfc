"""The Dramatiq broker: Redis in production, in-memory with worker threads inside `appliance serve`
in embedded mode. Only this module knows which.

Messages carry ids only; the database (outbox, timers) holds the truth, so the in-memory broker
losing its queue on restart loses nothing that the sweeper will not re-dispatch.
"""

from __future__ import annotations

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

from appliance.core import db
from appliance.settings import Settings

EMBEDDED_WORKER_THREADS = 2
# How often idle consumer threads wake up; also bounds how long stopping takes.
IDLE_WAKE_MS = 250


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
    return broker


class InProcessWorker:
    """Worker threads inside the API process (embedded mode), started and stopped with the app."""

    def __init__(self, broker: dramatiq.Broker, threads: int = EMBEDDED_WORKER_THREADS) -> None:
        self.worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=IDLE_WAKE_MS)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout_ms: int = 10_000) -> None:
        self.worker.stop(timeout=timeout_ms)
