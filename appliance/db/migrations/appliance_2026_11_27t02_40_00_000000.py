"""Secrets sealed like personal data: the link-signing key's column becomes text (a sealed value is longer
than the 128 characters it had). SQLite stores any text in any column: nothing to change there. The
values themselves are sealed by the next migration (2026-11-27T02:40:01), a data step."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.column_types import Varchar

from appliance.core.db import current_dialect

ID = "2026-11-27T02:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sealed secrets: the link-signing key's column holds a sealed value"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)

    manager.alter_column(
        table_class_name="LinkKey",
        tablename="link_key",
        column_name="secret",
        db_column_name="secret",
        params={},
        old_params={},
        column_class=Text,
        old_column_class=Varchar,
        schema=None,
    )

    if current_dialect() == "sqlite":

        async def run(backwards: bool = False) -> None:
            return None

        manager.run = run  # type: ignore[method-assign]

    return manager
