from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-11-27T06:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "services choose how a slot's resources are assigned (least_loaded | fixed_order)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)
    # Column defaults but for these (Piccolo's generated params spell every one out).
    manager.add_column(
        table_class_name="Service", tablename="service", column_name="assignment", db_column_name="assignment",
        column_class_name="Varchar", column_class=Varchar, params={"length": 20, "default": "least_loaded"},
        schema=None,
    )
    return manager
