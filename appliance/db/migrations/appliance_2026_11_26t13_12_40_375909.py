"""A booking's allocations are found by its id (transitions, listings, cascades): without an index each
of those read every allocation ever made."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey

ID = "2026-11-26T13:12:40:375909"
VERSION = "1.38.0"
DESCRIPTION = "index allocation.booking"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="appliance", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Allocation",
        tablename="allocation",
        column_name="booking",
        db_column_name="booking",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    return manager
