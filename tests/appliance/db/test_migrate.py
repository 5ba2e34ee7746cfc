"""The migration runner: tables and migrations agree; a failing migration changes nothing and is named."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
from piccolo.apps.migrations.commands.new import AutoMigrationManager

from appliance.core import db
from appliance.db import open_database
from appliance.db.migrate import MigrationFailed, apply_migrations, migration_ids, pending_migrations
from appliance.db.piccolo_app import APP_CONFIG
from tests.conftest import make_settings

BROKEN_ID = "2099-01-01T00:00:00:000000"
BROKEN_MIGRATION = f'''
from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.core.db import current_engine

ID = "{BROKEN_ID}"
VERSION = "1.38.0"
DESCRIPTION = "creates a table, then fails"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)

    async def create_table():
        await current_engine().run_ddl("CREATE TABLE should_vanish (id integer)")

    async def fail():
        await current_engine().run_ddl("INSERT INTO no_such_table VALUES (1)")

    manager.add_raw(create_table)
    manager.add_raw(fail)
    return manager
'''


@pytest.fixture
def empty_database(fresh_database_url: str) -> str:
    """A brand-new, unmigrated database of the engine under test, in use."""
    open_database(make_settings(fresh_database_url))
    return fresh_database_url


async def table_exists(name: str) -> bool:
    if db.current_dialect() == "sqlite":
        rows = await db.current_engine().run_ddl(f"SELECT name FROM sqlite_master WHERE type='table' AND name='{name}'")
    else:
        rows = await db.current_engine().run_ddl(f"SELECT tablename FROM pg_tables WHERE tablename='{name}'")
    return bool(rows)


async def test_tables_and_migrations_agree(database: str) -> None:
    statements = await AutoMigrationManager(auto_input="y").get_alter_statements(app_config=APP_CONFIG)

    assert [s.statements for s in statements if s.statements] == []


async def test_migrations_apply_forwards_on_an_empty_database(empty_database: str) -> None:
    assert await pending_migrations() == migration_ids()

    applied = await apply_migrations()

    assert applied == migration_ids()
    assert await pending_migrations() == []
    for table in APP_CONFIG.table_classes:
        assert await table_exists(table._meta.tablename), table._meta.tablename
    assert await apply_migrations() == []


async def test_a_failing_migration_is_rolled_back_and_named(empty_database: str, tmp_path: Path) -> None:
    folder = tmp_path / f"migrations_{uuid.uuid4().hex[:8]}"
    shutil.copytree(APP_CONFIG.resolved_migrations_folder_path, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / f"appliance_2099_broken_{uuid.uuid4().hex[:8]}.py").write_text(BROKEN_MIGRATION)

    with pytest.raises(MigrationFailed) as failed:
        await apply_migrations(folder)

    assert failed.value.migration_id == BROKEN_ID
    assert BROKEN_ID in failed.value.detail and "rolled back" in failed.value.detail
    assert not await table_exists("should_vanish")
    assert await pending_migrations(folder) == [BROKEN_ID]
    assert await table_exists("branch")  # the good migration before it stays applied


def test_sqlite_file_is_a_real_database_file(database_urls: dict[str, str]) -> None:
    path = database_urls["sqlite"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {t._meta.tablename for t in APP_CONFIG.table_classes} <= tables
