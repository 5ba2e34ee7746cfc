from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-26T20:04:17:856529"
VERSION = "1.38.0"
DESCRIPTION = "opt_out dropped: opt-outs are customer consent now"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="appliance", description=DESCRIPTION
    )

    manager.drop_table(class_name="OptOut", tablename="opt_out", schema=None)

    return manager
