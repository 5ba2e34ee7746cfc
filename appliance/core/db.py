"""The database engine: SQLite (embedded default) or PostgreSQL, chosen here and nowhere else."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
from asyncpg.pool import Pool  # type: ignore[import-untyped]
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString
from piccolo.table import Table

from appliance.core.log import get_logger

Dialect = Literal["sqlite", "postgresql"]
_log = get_logger(__name__)

_engine: Engine | None = None  # type: ignore[type-arg]


class LoopLocalPostgresEngine(PostgresEngine):
    """A PostgreSQL engine with one connection pool per event loop.

    asyncpg pools belong to the loop that made them; the API, the in-process worker's loop and test
    clients each run their own loop. Piccolo reads and writes `self.pool`, so it is resolved per loop.
    """

    __slots__ = ("_pools", "pool_bounds")

    def __init__(self, config: dict[str, Any], *, pool_bounds: tuple[int, int]) -> None:
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()
        self.pool_bounds = pool_bounds
        super().__init__(config=config)

    @property
    def pool(self) -> Pool | None:
        try:
            return self._pools.get(asyncio.get_running_loop())
        except RuntimeError:  # no running loop: no pool
            return None

    @pool.setter
    def pool(self, value: Pool | None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # Piccolo's __init__ sets None outside any loop
        if value is None:
            self._pools.pop(loop, None)
        else:
            self._pools[loop] = value


def dialect_of(url: str) -> Dialect:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise ValueError(f"unsupported database URL scheme {scheme!r}")


def sqlite_path(url: str) -> Path:
    """`sqlite:////abs/path/app.db` → `/abs/path/app.db`."""
    return Path(unquote(url.removeprefix("sqlite://")))


def engine_for_url(url: str, *, pool_min_size: int = 1, pool_max_size: int = 10) -> Engine:  # type: ignore[type-arg]
    if dialect_of(url) == "sqlite":
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Writers queue on BEGIN IMMEDIATE instead of failing: wait up to 30 s for the lock.
        return SQLiteEngine(path=str(path), timeout=30)
    return LoopLocalPostgresEngine(config={"dsn": url}, pool_bounds=(pool_min_size, pool_max_size))


def use_engine(engine: Engine, tables: Iterable[type[Table]]) -> None:  # type: ignore[type-arg]
    """Make `engine` the one every table (and Piccolo's migration machinery) talks to."""
    global _engine
    _engine = engine
    for table in tables:
        table._meta.db = engine


def current_engine() -> Engine:  # type: ignore[type-arg]
    if _engine is None:
        raise RuntimeError("no database configured: call appliance.db.open_database() first")
    return _engine


def current_dialect() -> Dialect:
    return "sqlite" if isinstance(current_engine(), SQLiteEngine) else "postgresql"


async def start_pool() -> None:
    """Open the connection pool for the running event loop (PostgreSQL; SQLite needs none).

    A pool belongs to one event loop: each loop that queries (the API's, a worker's) opens its own.
    """
    engine = current_engine()
    if isinstance(engine, LoopLocalPostgresEngine):
        min_size, max_size = engine.pool_bounds
        await engine.start_connection_pool(min_size=min_size, max_size=max_size)
    else:
        # WAL lets readers proceed while one writer holds the lock.
        await engine.run_ddl("PRAGMA journal_mode=WAL")


async def close_pool() -> None:
    engine = current_engine()
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


# Work to do once the outermost write transaction has committed (hand new events to the broker).
_after_commit: ContextVar[list[Callable[[], object]] | None] = ContextVar("after_commit", default=None)


def after_commit(callback: Callable[[], object]) -> None:
    """Run `callback` once the surrounding write transaction commits; never if it rolls back. Outside a
    transaction it runs at once. A failing callback is logged and skipped: what it hands on must also
    be recoverable from the database (the sweeper's job)."""
    pending = _after_commit.get()
    if pending is None:
        _run_callbacks([callback])
    else:
        pending.append(callback)


def _run_callbacks(callbacks: Iterable[Callable[[], object]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - see after_commit
            _log.warning("after_commit_failed", callback=getattr(callback, "__qualname__", repr(callback)), exc_info=True)


@asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """One atomic write. On SQLite it is `BEGIN IMMEDIATE`, so concurrent writers queue rather than fail.

    Nested use joins the outer transaction; `after_commit` callbacks run when the outermost commits.
    """
    if _after_commit.get() is not None:
        async with _transaction():
            yield
        return
    pending: list[Callable[[], object]] = []
    token = _after_commit.set(pending)
    try:
        async with _transaction():
            yield
    finally:
        _after_commit.reset(token)
    _run_callbacks(pending)


@asynccontextmanager
async def _transaction() -> AsyncIterator[None]:
    engine = current_engine()
    if not isinstance(engine, SQLiteEngine):
        async with engine.transaction():
            yield
    elif engine.current_transaction.get() is not None:
        async with engine.transaction(transaction_type=TransactionType.immediate):  # joins the outer one
            yield
    else:
        # SQLite's busy handler retries by sleeping, so under load one writer can starve past its
        # timeout; writers of one event loop queue here first-come first-served instead.
        async with _writer_queue(), engine.transaction(transaction_type=TransactionType.immediate):
            yield


_writer_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _writer_queue() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if (lock := _writer_queues.get(loop)) is None:
        lock = _writer_queues[loop] = asyncio.Lock()
    return lock


async def ping() -> None:
    """Raise if the database does not answer a trivial query."""
    await current_engine().run_ddl("SELECT 1")


def json_value(value: Any) -> Any:
    """A JSON column's value as Python data: raw queries, RETURNING and SQLite hand it over as text."""
    return json.loads(value) if isinstance(value, str) else value


def uuid_value(value: Any) -> UUID:
    """A UUID column's value as a UUID: SQLite raw queries hand it over as text."""
    return value if isinstance(value, UUID) else UUID(str(value))


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)


def is_overlap_violation(exc: BaseException) -> bool:
    """An allocation collided with another: the exclusion constraint (PostgreSQL) or trigger (SQLite)."""
    if isinstance(exc, asyncpg.ExclusionViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "allocation_overlap" in str(exc)


async def lock_for_transaction(key: str) -> None:
    """Serialise transactions that touch `key` (PostgreSQL advisory lock, released at commit).

    SQLite needs none: its write transactions are already one at a time.
    """
    if current_dialect() == "postgresql":
        await current_engine().run_querystring(QueryString("SELECT pg_advisory_xact_lock(hashtext({}))", key))
