"""The rules join the catalog revision: every write to `rule` changes it too, so the enabled timer rules a
process keeps (`automation.engine`) serve a booking only while the revision its calendar query read is the
one they were read at (core/revision.py).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-27T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "catalog revision changed by writes to rule too"

POSTGRESQL = [
    "CREATE TRIGGER rule_catalog_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rule "
    "FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed()",
]
POSTGRESQL_BACK = ["DROP TRIGGER rule_catalog_revision ON rule"]

_OPERATIONS = ("insert", "update", "delete")
SQLITE = [
    f"CREATE TRIGGER rule_{operation}_catalog_revision AFTER {operation.upper()} ON rule "
    "BEGIN UPDATE catalog_revision SET revision = lower(hex(randomblob(16))) WHERE id = 1; END"
    for operation in _OPERATIONS
]
SQLITE_BACK = [f"DROP TRIGGER rule_{operation}_catalog_revision" for operation in _OPERATIONS]


async def forwards() -> MigrationManager:
    return sql_migration(
        ID, DESCRIPTION, {"postgresql": POSTGRESQL, "sqlite": SQLITE}, {"postgresql": POSTGRESQL_BACK, "sqlite": SQLITE_BACK}
    )
