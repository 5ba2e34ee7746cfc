"""Apply the one linear migration history; each migration and its record commit together or not at all."""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.commands.base import BaseMigrationManager, MigrationModule  # type: ignore[attr-defined]
from piccolo.apps.migrations.tables import Migration

from appliance.core.db import write_transaction
from appliance.core.errors import AppError
from appliance.db.piccolo_app import APP_CONFIG


class MigrationFailed(AppError):
    status, code, title = 500, "migration_failed", "Migration failed"

    def __init__(self, migration_id: str, cause: BaseException) -> None:
        super().__init__(
            f"migration {migration_id} failed and was rolled back: {type(cause).__name__}: {cause}"
        )
        self.migration_id = migration_id


@functools.cache
def _modules(folder: Path | None) -> dict[str, MigrationModule]:
    """Import each migration module once: Piccolo's loader prepends to sys.path on every call, and
    readiness probes ask for pending migrations on every request."""
    path = str(folder) if folder else APP_CONFIG.resolved_migrations_folder_path
    return BaseMigrationManager().get_migration_modules(path)


def migration_ids(folder: Path | None = None) -> list[str]:
    return sorted(_modules(folder))


async def applied_migrations() -> list[str]:
    if not await Migration.table_exists().run():
        return []
    return list(await Migration.get_migrations_which_ran(app_name=APP_CONFIG.app_name))


async def pending_migrations(folder: Path | None = None) -> list[str]:
    done = set(await applied_migrations())
    return [mid for mid in migration_ids(folder) if mid not in done]


async def apply_migrations(folder: Path | None = None) -> list[str]:
    """Run every pending migration in order and return their ids; stop at the first failure.

    `folder` replaces the packaged migrations folder (tests of the runner itself).
    """
    await Migration.create_table(if_not_exists=True).run()  # type: ignore[no-untyped-call]
    modules = _modules(folder)
    applied = []
    for migration_id in await pending_migrations(folder):
        try:
            async with write_transaction():
                manager = await modules[migration_id].forwards()
                if isinstance(manager, MigrationManager):
                    # Joins our transaction, so DDL and record commit together; Piccolo's progress
                    # prints are dropped, the CLI reports instead.
                    with contextlib.redirect_stdout(io.StringIO()):
                        await manager.run()
                await Migration.insert(Migration(name=migration_id, app_name=APP_CONFIG.app_name)).run()
        except Exception as exc:  # any failure aborts the run and names the step
            raise MigrationFailed(migration_id, exc) from exc
        applied.append(migration_id)
    return applied
