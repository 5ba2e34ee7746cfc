"""Shared fixtures: every database test runs on both SQLite (a real file) and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from argon2 import profiles
from litestar import Litestar
from piccolo.apps.migrations.tables import Migration
from piccolo.querystring import QueryString
from piccolo.table import sort_table_classes

from appliance.app import create_app
from appliance.auth import passwords
from appliance.core import db as core_db
from appliance.db import open_database
from appliance.db.migrate import apply_migrations
from appliance.db.piccolo_app import APP_CONFIG
from appliance.settings import Settings, load_settings
from appliance.testing.lifespan import running

POSTGRES_ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("BOOKING_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ENGINES = ["sqlite", "postgresql"]

for name in [n for n in os.environ if n.startswith("APPLIANCE_")]:
    del os.environ[name]  # a developer's own configuration must not leak into tests

# Thousands of accounts are made and signed in to: at the appliance's own argon2 cost (0.15 s
# per hash and per check, 0.22 s of CPU over its threads) the auth and admin-UI tests took 260 s, not 211.
# Same algorithm and code, cheapest parameters; the appliance's own are held by
# tests/appliance/auth/test_passwords.py, and processes the tests start (servers, the command line)
# hash with them.
passwords.hash_with(profiles.CHEAPEST)


def _database_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def _create_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per engine for the whole run."""
    pg_name = f"appliance_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_postgres_database(pg_name))
    urls = {
        "sqlite": f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'appliance.db'}",
        "postgresql": _database_url(POSTGRES_ADMIN_URL, pg_name),
    }
    for url in urls.values():
        open_database(make_settings(url))
        asyncio.run(apply_migrations())
    yield urls
    asyncio.run(_drop_postgres_database(pg_name))


def make_settings(database_url: str, data_dir: Path | None = None, **env: str) -> Settings:
    values = {"APPLIANCE_DATABASE_URL": database_url, "APPLIANCE_LOG_LEVEL": "warning", **env}
    if data_dir is not None:
        values["APPLIANCE_DATA_DIR"] = str(data_dir)
    return load_settings(values)


# Tables whose triggers refuse DELETE and TRUNCATE (the audit log): set aside while a test's data is cleared.
APPEND_ONLY_TABLES = ("audit_entry", "audit_checkpoint", "audit_archive")


async def _empty_all_tables() -> None:
    tables = sort_table_classes(list(APP_CONFIG.table_classes))
    engine = core_db.current_engine()
    if core_db.current_dialect() == "postgresql":
        # DELETE, not TRUNCATE: for a test's handful of rows it is some twenty times cheaper (TRUNCATE
        # gives each of the ~45 tables new files). Replica mode, for this transaction only, skips the
        # triggers: the foreign keys' (every table is emptied) and the audit tables' append-only guards.
        async with engine.transaction():
            await engine.run_ddl("SET LOCAL session_replication_role = replica")
            for table in tables:
                await engine.run_ddl(f'DELETE FROM "{table._meta.tablename}"')
        return
    # One transaction (a commit per table would cost a sync each): the append-only triggers are set
    # aside, the tables emptied, the triggers put back; a failure rolls all of it back.
    placeholders = ", ".join("{}" for _ in APPEND_ONLY_TABLES)
    async with engine.transaction():
        triggers = await engine.run_querystring(QueryString(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({placeholders})",
            *APPEND_ONLY_TABLES,
        ))
        for trigger in triggers:
            await engine.run_ddl(f'DROP TRIGGER "{trigger["name"]}"')
        for table in reversed(tables):
            await engine.run_ddl(f'DELETE FROM "{table._meta.tablename}"')
        for trigger in triggers:
            await engine.run_ddl(trigger["sql"])


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def fresh_database_url(engine_name: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a brand-new, unmigrated database of the engine under test."""
    if engine_name == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"appliance_fresh_{uuid.uuid4().hex[:10]}"
    await _create_postgres_database(name)
    try:
        yield _database_url(POSTGRES_ADMIN_URL, name)
    finally:
        await _drop_postgres_database(name)


@pytest.fixture
def settings(engine_name: str, database_urls: dict[str, str], tmp_path: Path) -> Settings:
    return make_settings(database_urls[engine_name], tmp_path / "var")


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[str]:
    """The engine's database, emptied before the test; yields the dialect name."""
    open_database(settings)
    assert await Migration.table_exists().run()
    await _empty_all_tables()
    yield core_db.current_dialect()


@pytest.fixture
async def app(settings: Settings, database: str) -> AsyncIterator[Litestar]:
    async with running(create_app(settings)) as application:
        yield application


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client (Secure cookies are sent) talking to the app in-process, on this event loop."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http
