"""The database layer: pools per event loop, the write-transaction helper on both engines."""

from __future__ import annotations

import asyncio
import threading
from uuid import uuid4

import pytest

from appliance.catalog.tables import Branch
from appliance.core import db
from appliance.core.clock import utc_now
from appliance.db import open_database
from appliance.testing.builders import make_branch
from tests.conftest import make_settings


def test_each_event_loop_gets_its_own_postgres_pool(database_urls: dict[str, str]) -> None:
    open_database(make_settings(database_urls["postgresql"]))
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    async def work() -> None:
        await db.start_pool()
        engine = db.current_engine()
        pool = engine.pool  # type: ignore[attr-defined]
        assert pool is not None
        counts = await asyncio.gather(*(Branch.count() for _ in range(20)))
        seen.append((id(pool), len(counts)))
        await db.close_pool()
        assert engine.pool is None  # type: ignore[attr-defined]

    def in_own_loop() -> None:
        try:
            asyncio.run(work())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=in_own_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(seen) == 3
    assert len({pool_id for pool_id, _ in seen}) == 3
    assert all(count == 20 for _, count in seen)


async def test_write_transaction_rolls_back_everything_on_error(database: str) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.write_transaction():
            await make_branch("静安店")
            assert await Branch.count() == 1  # visible inside the transaction
            raise Boom

    assert await Branch.count() == 0


async def test_sqlite_write_transactions_are_immediate(database_urls: dict[str, str]) -> None:
    open_database(make_settings(database_urls["sqlite"]))
    engine = db.current_engine()

    async with db.write_transaction():
        transaction = engine.current_transaction.get()
        assert transaction is not None
        assert transaction.transaction_type.value == "IMMEDIATE"


@pytest.mark.usefixtures("database")
async def test_after_commit_work_runs_once_the_outermost_transaction_commits_and_never_after_a_rollback() -> None:
    ran: list[str] = []

    async with db.write_transaction():
        await make_branch("一号店")
        async with db.write_transaction():  # joins the outer one
            db.after_commit(lambda: ran.append("inner"))
        db.after_commit(lambda: 1 / 0)  # a failing callback is logged and skipped
        db.after_commit(lambda: ran.append("outer"))
        assert ran == []
    assert ran == ["inner", "outer"]

    with pytest.raises(RuntimeError):
        async with db.write_transaction():
            await make_branch("二号店")
            db.after_commit(lambda: ran.append("rolled back"))
            raise RuntimeError("abort")
    db.after_commit(lambda: ran.append("no transaction"))

    assert ran == ["inner", "outer", "no transaction"]
    assert [r["name"] for r in await Branch.select(Branch.name)] == ["一号店"]


_BRANCH_COLUMNS = ("id", "name", "timezone", "address", "active", "created_at", "updated_at", "opening_hours")


def _branch_row(name: str) -> tuple[object, ...]:
    now = utc_now()
    return (uuid4(), name, "Asia/Shanghai", "", True, now, now, db.json_text({}))


async def test_rows_queued_for_the_commit_are_written_with_it_and_never_after_a_rollback(database: str) -> None:
    class Boom(Exception):
        pass

    async with db.write_transaction():
        await db.insert_at_commit("branch", _BRANCH_COLUMNS, _branch_row("静安店"))
        async with db.write_transaction():  # a nested one queues for the outermost
            await db.insert_at_commit("branch", _BRANCH_COLUMNS, _branch_row("徐汇店"))
        assert await Branch.count() == 0  # not before the commit
    with pytest.raises(Boom):
        async with db.write_transaction():
            await db.insert_at_commit("branch", _BRANCH_COLUMNS, _branch_row("浦东店"))
            raise Boom

    assert sorted(r["name"] for r in await Branch.select(Branch.name)) == ["徐汇店", "静安店"]
