"""The database engine: SQLite (embedded default) or PostgreSQL, chosen here and nowhere else."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
from asyncpg.pool import Pool  # type: ignore[import-untyped]
from piccolo.columns import JSON, JSONB, Column
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString
from piccolo.table import Table

from appliance.core.log import get_logger

Dialect = Literal["sqlite", "postgresql"]
T = TypeVar("T")
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
        await engine.start_connection_pool(min_size=min_size, max_size=max_size, reset=_keep_session)
    else:
        # WAL lets readers proceed while one writer holds the lock.
        await engine.run_ddl("PRAGMA journal_mode=WAL")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What the pool does to a connection given back, besides rolling back a transaction left open (asyncpg
    always does that): nothing. Its default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` after every use, a round trip for each query run outside a transaction; the appliance keeps
    no session state to undo (advisory locks, SET and SET TRANSACTION are all transaction-scoped; no
    LISTEN, no cursor outside a transaction)."""


async def close_pool() -> None:
    engine = current_engine()
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


@dataclass
class _TransactionWork:
    """What the outermost write transaction does besides its statements: rows inserted just before it
    commits (by table and columns, in the order first queued), and callbacks run once it has."""

    rows: dict[tuple[str, tuple[str, ...]], list[Sequence[Any]]] = field(default_factory=dict)
    writes: list[tuple[str, list[Any]]] = field(default_factory=list)  # `write_at_commit`'s, after the rows
    after_commit: list[Callable[[], object]] = field(default_factory=list)
    collected: dict[str, list[Any]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)


_work: ContextVar[_TransactionWork | None] = ContextVar("transaction_work", default=None)


def after_commit(callback: Callable[[], object]) -> None:
    """Run `callback` once the surrounding write transaction commits; never if it rolls back. Outside a
    transaction it runs at once. A failing callback is logged and skipped: what it hands on must also
    be recoverable from the database (the sweeper's job)."""
    work = _work.get()
    if work is None:
        _run_callbacks([callback])
    else:
        work.after_commit.append(callback)


def after_commit_collect(key: str, items: Sequence[T], callback: Callable[[list[T]], object]) -> None:
    """Like `after_commit`, for work done once per transaction on everything it produced: the items
    given under `key` during the transaction are collected, and the first caller's `callback` gets
    them all, once, after the commit (a transaction's events go to the broker in one message)."""
    work = _work.get()
    if work is None:
        _run_callbacks([lambda: callback(list(items))])
        return
    if (collected := work.collected.get(key)) is None:
        collected = work.collected[key] = []
        work.after_commit.append(lambda: callback(collected))
    collected.extend(items)


def transaction_memo() -> dict[str, Any] | None:
    """The outermost write transaction's notes to itself (what its statements saw), or None outside one."""
    work = _work.get()
    return None if work is None else work.memo


def in_transaction() -> bool:
    """Whether the caller runs inside a transaction (a write transaction, or Piccolo's own)."""
    return _work.get() is not None or current_engine().current_transaction.get() is not None


async def insert_at_commit(table: str, columns: tuple[str, ...], row: Sequence[Any]) -> None:
    """Insert `row` into `table` just before the surrounding write transaction commits, in one statement
    with the other rows queued so (on PostgreSQL one statement for every table: a transaction's audit
    entries and events cost one round trip, not two each). Outside a transaction it is inserted at
    once. For append-only rows nothing in the transaction reads back: values as the driver takes them
    (JSON as text)."""
    work = _work.get()
    if work is None:
        await _insert_rows({(table, columns): [row]})
    else:
        work.rows.setdefault((table, columns), []).append(row)


async def write_at_commit(sql: str, *args: Any) -> None:
    """Run the INSERT `sql` (placeholders `{}`) just before the surrounding write transaction commits, after
    the rows of `insert_at_commit` and on PostgreSQL in the same one statement: for a write nothing in the
    transaction reads back whose SELECT may read the transaction's own changes as it leaves them (a
    report's stale mark from a booking's final start). Outside a transaction it runs at once."""
    work = _work.get()
    if work is None:
        await run_sql(sql, *args)
    else:
        work.writes.append((sql, list(args)))


async def insert_rows(*tables: TableRows) -> None:
    """Insert rows into one table or several, in the order given, now: in one statement on PostgreSQL
    (a booking and its allocations, one round trip), one per table on SQLite. Constraint violations
    surface here as from any insert. Values as the driver takes them (JSON as text)."""
    await _insert_rows({(table, columns): list(rows) for table, columns, rows in tables if rows})


# One table's rows for `insert_rows`: the table, its columns, the rows' values in that order.
TableRows = tuple[str, tuple[str, ...], Sequence[Sequence[Any]]]


def row_for(table: type[Table], values: Mapping[str, Any]) -> TableRows:
    """One row given as column name → value, for `insert_rows`, each column it leaves out taking the
    column's default as Piccolo's insert would: without building a Piccolo object and query, for rows a
    hot path writes (a booking's new customer)."""
    columns = table._meta.columns
    names = tuple(c._meta.db_column_name for c in columns)
    row = [
        _encoded(c, values[c._meta.name] if c._meta.name in values else c.get_default_value()) for c in columns
    ]
    return table._meta.tablename, names, [row]


# Bind parameters per statement: PostgreSQL allows 32,767, SQLite (since 3.32) 32,766.
_MAX_PARAMETERS = 30_000


async def _insert_rows(
    rows: dict[tuple[str, tuple[str, ...]], list[Sequence[Any]]], writes: Sequence[tuple[str, list[Any]]] = ()
) -> None:
    """Multi-row INSERTs, then `writes`, chained into one statement with data-modifying WITH on PostgreSQL
    (SQLite has none: there, one per table and write), as few statements as the parameter limit allows."""
    chunks: list[tuple[str, list[Any]]] = []
    for (table, columns), values in rows.items():
        row_sql = "(" + ", ".join(["{}"] * len(columns)) + ")"
        per_chunk = max(1, _MAX_PARAMETERS // len(columns))
        for at in range(0, len(values), per_chunk):
            part = values[at:at + per_chunk]
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row_sql] * len(part))
            chunks.append((sql, [v for row in part for v in row]))
    chunks += writes
    if current_dialect() == "sqlite":
        for sql, args in chunks:
            await run_sql(sql, *args)
        return
    while chunks:
        statement, args = chunks.pop(0)
        ctes: list[str] = []
        while chunks and len(args) + len(chunks[0][1]) <= _MAX_PARAMETERS:
            ctes.append(statement)
            statement, more = chunks.pop(0)
            args += more
        prefix = "WITH " + ", ".join(f"q{n} AS ({sql})" for n, sql in enumerate(ctes)) + " " if ctes else ""
        await run_sql(prefix + statement, *args)


def _run_callbacks(callbacks: Iterable[Callable[[], object]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - see after_commit
            _log.warning("after_commit_failed", callback=getattr(callback, "__qualname__", repr(callback)), exc_info=True)


@asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """One atomic write. On SQLite it is `BEGIN IMMEDIATE`, so concurrent writers queue rather than fail.

    Nested use joins the outer transaction; rows queued by `insert_at_commit` are written when the
    outermost one ends, and `after_commit` callbacks run once it has committed.
    """
    if _work.get() is not None:
        async with _transaction():
            yield
        return
    work = _TransactionWork()
    token = _work.set(work)
    try:
        async with _transaction():
            yield
            if work.rows or work.writes:
                await _insert_rows(work.rows, work.writes)
    finally:
        _work.reset(token)
    _run_callbacks(work.after_commit)


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


# Statement texts compiled so far, per engine; multi-row inserts make one per row count, so the memo is bounded.
_compiled: dict[tuple[str, str], str] = {}
_TEXTS_KEPT = 1024


def _compiled_text(sql: str, dialect: Dialect) -> str:
    """`{}` placeholders as the driver takes them: `$1`, `$2`… (asyncpg) or `?` (sqlite3)."""
    if (text := _compiled.get((sql, dialect))) is None:
        if len(_compiled) >= _TEXTS_KEPT:
            _compiled.clear()
        parts = sql.split("{}")
        marks = [f"${n}" if dialect == "postgresql" else "?" for n in range(1, len(parts))]
        text = _compiled[sql, dialect] = "".join(part + mark for part, mark in zip(parts, marks)) + parts[-1]
    return text


async def run_sql(sql: str, *args: Any) -> list[Any]:
    """Run one hand-written statement with Piccolo's `{}` placeholders, in the current transaction if
    there is one, else on its own (autocommit). For hot paths: the statement text is compiled once and
    handed straight to the transaction's (or on PostgreSQL the pool's) connection, without building a
    `QueryString` per call; rows are mappings by column name on both engines."""
    engine = current_engine()
    if isinstance(engine, PostgresEngine):
        text = _compiled_text(sql, "postgresql")
        if (transaction := engine.current_transaction.get()) is not None:
            return await transaction.connection.fetch(text, *args)  # type: ignore[no-any-return]
        if (pool := engine.pool) is not None:
            async with pool.acquire() as connection:
                return await connection.fetch(text, *args)  # type: ignore[no-any-return]
    elif (transaction := engine.current_transaction.get()) is not None:
        # Piccolo sends `PRAGMA foreign_keys = 1` before each statement, a hop to aiosqlite's thread each;
        # the transaction's connection has it from its opening (and SQLite ignores it inside a transaction).
        # One hop: execute and fetch together. Rows are dicts (Piccolo's row factory on the connection).
        return list(await transaction.connection.execute_fetchall(_compiled_text(sql, "sqlite"), args))
    rows: list[Any] = await engine.run_querystring(QueryString(sql, *args))
    return rows


def json_text(value: Any) -> str:
    """A JSON column's value as the drivers take it in hand-written statements: text, encoded as Piccolo
    encodes it (values JSON lacks as their str())."""
    return json.dumps(value, default=str)


async def insert_many(table: type[Table], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows given as column name → value, in the current transaction. A column a row leaves out
    takes the column's default, computed once per call (so give the primary key yourself). For bulk
    writes (imports): on PostgreSQL inside a transaction one `COPY` of binary records, without building
    a Piccolo object and query per row; elsewhere Piccolo's own insert."""
    if not rows:
        return
    engine = current_engine()
    transaction = engine.current_transaction.get() if isinstance(engine, PostgresEngine) else None
    if transaction is None:
        await table.insert(*(table(**row) for row in rows))
        return
    columns = table._meta.columns
    names = [c._meta.name for c in columns]
    fallback = [_encoded(c, c.get_default_value()) for c in columns]
    jsons = [(i, c) for i, c in enumerate(columns) if isinstance(c, JSON | JSONB)]
    records = []
    for row in rows:
        record = [row.get(name, default) for name, default in zip(names, fallback)]
        for i, column in jsons:
            if names[i] in row:
                record[i] = _encoded(column, record[i])
        records.append(record)
    await transaction.connection.copy_records_to_table(
        table._meta.tablename, columns=[c._meta.db_column_name for c in columns], records=records
    )


def _encoded(column: Column, value: Any) -> Any:
    """A value as asyncpg takes it for the column: JSON as text."""
    if isinstance(column, JSON | JSONB) and value is not None and not isinstance(value, str):
        return json.dumps(value)
    return value


def json_value(value: Any) -> Any:
    """A JSON column's value as Python data: raw queries, RETURNING and SQLite hand it over as text."""
    return json.loads(value) if isinstance(value, str) else value


def uuid_value(value: Any) -> UUID:
    """A UUID column's value as a UUID: SQLite raw queries hand it over as text."""
    return value if isinstance(value, UUID) else UUID(str(value))


def instant_value(value: Any) -> datetime:
    """A timestamptz value as an aware datetime: SQLite hands over text where Piccolo cannot convert it
    (columns of a UNION, raw aggregates)."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)


def is_overlap_violation(exc: BaseException) -> bool:
    """An allocation collided with another: the exclusion constraint (PostgreSQL) or trigger (SQLite)."""
    if isinstance(exc, asyncpg.ExclusionViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "allocation_overlap" in str(exc)


async def lock_for_transaction(key: str) -> bool:
    """Serialise transactions that touch `key` (PostgreSQL advisory lock, released at commit); whether
    it locked (a caller that read before may read again).

    SQLite needs none: its write transactions are already one at a time.
    """
    return await lock_all_for_transaction([key])


async def lock_all_for_transaction(keys: Collection[str]) -> bool:
    """`lock_for_transaction` for many keys in one statement (an import batch's phones), taken in one order
    by every caller (their hashes ascending): no two transactions each wait for a key the other holds."""
    if current_dialect() != "postgresql" or not keys:
        return False
    await current_engine().run_querystring(QueryString(
        "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest({}::text[]) AS k"
        " ORDER BY h) AS ordered", sorted(set(keys)),
    ))
    return True
