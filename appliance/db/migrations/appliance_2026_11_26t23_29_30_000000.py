"""The report rollups' indexes, and their rows derived from the bookings already there. Kept apart from the
table migration: Piccolo runs raw steps before table steps."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.core.db import current_engine

ID = "2026-11-26T23:29:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "report rollups: indexes, and built from the existing bookings"

_INDEXES = [
    "CREATE INDEX report_booking_day_branch_day ON report_booking_day (branch, day)",
    "CREATE INDEX report_resource_day_branch_day ON report_resource_day (branch, day, resource)",
    "CREATE INDEX report_customer_day_branch_day ON report_customer_day (branch, day, customer)",
    "CREATE INDEX report_customer_day_customer ON report_customer_day (customer)",
    "CREATE INDEX report_customer_first_customer ON report_customer_first (customer)",
]
_BACK = [
    "DROP INDEX report_customer_first_customer", "DROP INDEX report_customer_day_customer", "DROP INDEX report_customer_day_branch_day",
    "DROP INDEX report_resource_day_branch_day", "DROP INDEX report_booking_day_branch_day",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)

    async def run() -> None:
        from appliance.reports.rollup import rebuild

        for statement in _INDEXES:
            await current_engine().run_ddl(statement)
        await rebuild(first_rollups_only=True)  # the marks and the customer years come in later migrations

    async def run_backwards() -> None:
        for statement in _BACK:
            await current_engine().run_ddl(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
