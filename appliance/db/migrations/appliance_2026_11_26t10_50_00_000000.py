"""No overlapping allocations of one resource unit, enforced by each engine itself; idempotency keys
unique per caller. Kept apart from the table migration: Piccolo runs raw steps before table steps."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-26T10:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "allocation overlap guard, idempotency key uniqueness"

_OVERLAP = (
    "EXISTS (SELECT 1 FROM allocation a WHERE a.active AND a.resource = NEW.resource "
    "AND a.unit = NEW.unit AND a.holder <> NEW.holder "
    "AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at{extra})"
)

POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    "ALTER TABLE allocation ADD CONSTRAINT allocation_no_overlap EXCLUDE USING gist "
    "(resource WITH =, unit WITH =, holder WITH <>, tstzrange(starts_at, ends_at, '[)') WITH &&) WHERE (active)",
    "CREATE UNIQUE INDEX idempotency_record_scope_key ON idempotency_record (scope, key)",
    "CREATE INDEX booking_branch_starts_at ON booking (branch, starts_at)",
]
POSTGRESQL_BACK = [
    "DROP INDEX booking_branch_starts_at",
    "DROP INDEX idempotency_record_scope_key",
    "ALTER TABLE allocation DROP CONSTRAINT allocation_no_overlap",
]

# Timestamps are stored as UTC ISO text on SQLite, so text comparison orders them correctly.
SQLITE = [
    "CREATE TRIGGER allocation_no_overlap_insert BEFORE INSERT ON allocation "
    f"WHEN NEW.active AND {_OVERLAP.format(extra='')} "
    "BEGIN SELECT RAISE(ABORT, 'allocation_overlap'); END",
    "CREATE TRIGGER allocation_no_overlap_update "
    "BEFORE UPDATE OF active, resource, unit, holder, starts_at, ends_at ON allocation "
    f"WHEN NEW.active AND {_OVERLAP.format(extra=' AND a.id <> NEW.id')} "
    "BEGIN SELECT RAISE(ABORT, 'allocation_overlap'); END",
    "CREATE UNIQUE INDEX idempotency_record_scope_key ON idempotency_record (scope, key)",
    "CREATE INDEX booking_branch_starts_at ON booking (branch, starts_at)",
    "CREATE INDEX allocation_resource_starts_at ON allocation (resource, starts_at)",
]
SQLITE_BACK = [
    "DROP INDEX allocation_resource_starts_at",
    "DROP INDEX booking_branch_starts_at",
    "DROP INDEX idempotency_record_scope_key",
    "DROP TRIGGER allocation_no_overlap_update",
    "DROP TRIGGER allocation_no_overlap_insert",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        ID, DESCRIPTION, {"postgresql": POSTGRESQL, "sqlite": SQLITE}, {"postgresql": POSTGRESQL_BACK, "sqlite": SQLITE_BACK}
    )
