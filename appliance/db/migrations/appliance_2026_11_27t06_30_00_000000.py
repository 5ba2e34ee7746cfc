"""The catalog revision: one row whose value the database itself changes, by trigger, with every write to
the tables a service's booking context is read from (service, branch, form), whoever writes them (any API
node, the CLI, an import, hand-written SQL). A node may keep a service's context between bookings only as
long as the revision it was read at is still the one the booking's own calendar query reads
(`bookings.queries.remembered_service`). A fresh random value each time, not a counter: a database restored
from a backup never brings back a value a node still remembers. Not a Piccolo table: nothing but these
triggers writes it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-27T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "catalog revision, changed by triggers on service, branch and form"

_TABLES = ("service", "branch", "form")

POSTGRESQL = [
    "CREATE TABLE catalog_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision TEXT NOT NULL)",
    "INSERT INTO catalog_revision (id, revision) VALUES (1, gen_random_uuid()::text)",
    """CREATE FUNCTION catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_revision SET revision = gen_random_uuid()::text WHERE id = 1;
    RETURN NULL;
END $$""",
    *(
        f"CREATE TRIGGER {table}_catalog_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed()"
        for table in _TABLES
    ),
]
POSTGRESQL_BACK = [
    *(f"DROP TRIGGER {table}_catalog_revision ON {table}" for table in _TABLES),
    "DROP FUNCTION catalog_changed()",
    "DROP TABLE catalog_revision",
]

# SQLite triggers are per row and per operation.
_OPERATIONS = ("insert", "update", "delete")
SQLITE = [
    "CREATE TABLE catalog_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision TEXT NOT NULL)",
    "INSERT INTO catalog_revision (id, revision) VALUES (1, lower(hex(randomblob(16))))",
    *(
        f"CREATE TRIGGER {table}_{operation}_catalog_revision AFTER {operation.upper()} ON {table} "
        "BEGIN UPDATE catalog_revision SET revision = lower(hex(randomblob(16))) WHERE id = 1; END"
        for table in _TABLES for operation in _OPERATIONS
    ),
]
SQLITE_BACK = [
    *(f"DROP TRIGGER {table}_{operation}_catalog_revision" for table in _TABLES for operation in _OPERATIONS),
    "DROP TABLE catalog_revision",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        ID, DESCRIPTION, {"postgresql": POSTGRESQL, "sqlite": SQLITE}, {"postgresql": POSTGRESQL_BACK, "sqlite": SQLITE_BACK}
    )
