"""Migrations written as SQL per engine (constraints, triggers, indexes Piccolo cannot express)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.core.db import Dialect, current_dialect, current_engine

Statements = Mapping[Dialect, Sequence[str]]


async def _run(statements: Sequence[str]) -> None:
    for statement in statements:
        await current_engine().run_ddl(statement)


def sql_migration(migration_id: str, description: str, forwards: Statements, backwards: Statements) -> MigrationManager:
    """A migration that runs the statements of the current engine, in order (and backwards to undo)."""
    manager = MigrationManager(migration_id=migration_id, app_name="appliance", description=description)
    add_sql_steps(manager, forwards, backwards)
    return manager


def add_sql_steps(manager: MigrationManager, forwards: Statements, backwards: Statements) -> None:
    """The current engine's statements as raw steps of `manager`, beside what else it does (a column
    altered through Piccolo, say)."""

    async def run() -> None:
        await _run(forwards[current_dialect()])

    async def run_backwards() -> None:
        await _run(backwards[current_dialect()])

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
