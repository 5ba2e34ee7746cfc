"""The customer years' indexes, and their rows derived from the customer days already there (a rebuild of
every rollup: the one way to derive them that a refresh also takes). Kept apart from the table migration:
Piccolo runs raw steps before table steps."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.core.db import current_engine

ID = "2026-11-27T06:04:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "report customer years: indexes, and built from the existing bookings"

_INDEXES = [
    "CREATE INDEX report_customer_year_branch_year ON report_customer_year (branch, year)",
    "CREATE INDEX report_customer_year_customer ON report_customer_year (customer)",
]
_BACK = ["DROP INDEX report_customer_year_customer", "DROP INDEX report_customer_year_branch_year"]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)

    async def run() -> None:
        from appliance.reports.rollup import rebuild

        for statement in _INDEXES:
            await current_engine().run_ddl(statement)
        await rebuild()

    async def run_backwards() -> None:
        for statement in _BACK:
            await current_engine().run_ddl(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
