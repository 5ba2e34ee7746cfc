from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-27T11:31:41:156054"
VERSION = "1.38.0"
DESCRIPTION = "bookings keep when online cancelling had closed if the customer moved them after it"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="appliance", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Booking",
        tablename="booking",
        column_name="cancel_closed_at",
        db_column_name="cancel_closed_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
