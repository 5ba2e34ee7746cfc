from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-27T02:26:06:884321"
VERSION = "1.38.0"
DESCRIPTION = "merge records keep the profile values copied or overridden (sealed)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="appliance", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="CustomerMerge",
        tablename="customer_merge",
        column_name="profile",
        db_column_name="profile",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
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
