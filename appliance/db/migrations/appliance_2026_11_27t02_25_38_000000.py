"""The stale marks' index: a report takes in the marks of its branches and period (branch, then start); the
sweeper takes the oldest, in the primary key's order. Kept apart from the table migration: Piccolo runs raw
steps before table steps."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.core.db import current_engine

ID = "2026-11-27T02:25:38:000000"
VERSION = "1.38.0"
DESCRIPTION = "report stale marks: index by branch and start"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)

    async def run() -> None:
        await current_engine().run_ddl("CREATE INDEX report_stale_branch_starts ON report_stale (branch, starts_at)")

    async def run_backwards() -> None:
        await current_engine().run_ddl("DROP INDEX report_stale_branch_starts")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
