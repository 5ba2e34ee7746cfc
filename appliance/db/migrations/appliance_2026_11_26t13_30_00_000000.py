"""Allocations are at most LONGEST_ALLOCATION long (a service's duration, both buffers and a post-use
lock: 1440 + 720 + 720 + 1440 minutes), enforced by each engine. Longer unavailability is time off.

That bound lets every overlap search start at `starts_at - bound` instead of the beginning of time:
the calendar query already does, and SQLite's overlap triggers now do too, so checking a new
allocation no longer reads a resource's whole past (it grew with every booking ever made)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-26T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "allocation length bound; SQLite overlap triggers bounded below"

LONGEST_MINUTES = 1440 + 720 + 720 + 1440

POSTGRESQL = [
    "ALTER TABLE allocation ADD CONSTRAINT allocation_length "
    f"CHECK (ends_at > starts_at AND ends_at - starts_at <= interval '{LONGEST_MINUTES} minutes')",
]
POSTGRESQL_BACK = ["ALTER TABLE allocation DROP CONSTRAINT allocation_length"]

# As before, plus the lower bound (a minute wider than the length check, which compares floating-point
# days). SQLite keeps instants as UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00"; datetime() gives
# "YYYY-MM-DD HH:MM:SS", which sorts at or before every stored text of that second.
_OVERLAP = (
    "EXISTS (SELECT 1 FROM allocation a WHERE a.active AND a.resource = NEW.resource "
    "AND a.unit = NEW.unit AND a.holder <> NEW.holder "
    "AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at "
    f"AND a.starts_at > datetime(NEW.starts_at, '-{LONGEST_MINUTES + 1} minutes'){{extra}})"
)
_TOO_LONG = (
    "NOT (julianday(NEW.ends_at) > julianday(NEW.starts_at) "
    f"AND julianday(NEW.ends_at) - julianday(NEW.starts_at) <= {LONGEST_MINUTES} / 1440.0 + 1e-7)"
)
_COLUMNS = "active, resource, unit, holder, starts_at, ends_at"
SQLITE = [
    "DROP TRIGGER allocation_no_overlap_insert",
    "DROP TRIGGER allocation_no_overlap_update",
    f"CREATE TRIGGER allocation_length_insert BEFORE INSERT ON allocation WHEN {_TOO_LONG} "
    "BEGIN SELECT RAISE(ABORT, 'allocation_length'); END",
    f"CREATE TRIGGER allocation_length_update BEFORE UPDATE OF starts_at, ends_at ON allocation WHEN {_TOO_LONG} "
    "BEGIN SELECT RAISE(ABORT, 'allocation_length'); END",
    "CREATE TRIGGER allocation_no_overlap_insert BEFORE INSERT ON allocation "
    f"WHEN NEW.active AND {_OVERLAP.format(extra='')} "
    "BEGIN SELECT RAISE(ABORT, 'allocation_overlap'); END",
    f"CREATE TRIGGER allocation_no_overlap_update BEFORE UPDATE OF {_COLUMNS} ON allocation "
    f"WHEN NEW.active AND {_OVERLAP.format(extra=' AND a.id <> NEW.id')} "
    "BEGIN SELECT RAISE(ABORT, 'allocation_overlap'); END",
]
# Back to the unbounded triggers of migration 2026-11-26T10:50:00.
_UNBOUNDED = (
    "EXISTS (SELECT 1 FROM allocation a WHERE a.active AND a.resource = NEW.resource "
    "AND a.unit = NEW.unit AND a.holder <> NEW.holder "
    "AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at{extra})"
)
SQLITE_BACK = [
    "DROP TRIGGER allocation_no_overlap_update",
    "DROP TRIGGER allocation_no_overlap_insert",
    "DROP TRIGGER allocation_length_update",
    "DROP TRIGGER allocation_length_insert",
    "CREATE TRIGGER allocation_no_overlap_insert BEFORE INSERT ON allocation "
    f"WHEN NEW.active AND {_UNBOUNDED.format(extra='')} "
    "BEGIN SELECT RAISE(ABORT, 'allocation_overlap'); END",
    f"CREATE TRIGGER allocation_no_overlap_update BEFORE UPDATE OF {_COLUMNS} ON allocation "
    f"WHEN NEW.active AND {_UNBOUNDED.format(extra=' AND a.id <> NEW.id')} "
    "BEGIN SELECT RAISE(ABORT, 'allocation_overlap'); END",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        ID, DESCRIPTION, {"postgresql": POSTGRESQL, "sqlite": SQLITE}, {"postgresql": POSTGRESQL_BACK, "sqlite": SQLITE_BACK}
    )
