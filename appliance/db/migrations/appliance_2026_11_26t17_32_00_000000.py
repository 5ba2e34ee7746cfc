"""The audit log is append-only, enforced by each engine itself.

Audit entries: no UPDATE except the sealer's, once (setting `seq` and `leaf_hash` on an entry that has
none, every other column unchanged); no DELETE except of entries an archive record already covers; no
TRUNCATE (PostgreSQL). Checkpoints and archive records: no UPDATE, DELETE or TRUNCATE; archive records
follow one another without a gap. Plus one entry per seq, and the index the sealer finds unsealed
entries by.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-26T17:32:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit tables append-only (triggers), entries unique by seq, unsealed entries index"

_CONTENT = (
    "id", "occurred_at", "actor_kind", "actor_id", "actor_label", "auth_method", "ip", "request_id", "action",
    "target_type", "target_id", "result", "reason", "changed_fields", "details",
)
_ARCHIVED = "(SELECT coalesce(max(last_seq), 0) FROM audit_archive)"
_INDEXES = [
    "CREATE UNIQUE INDEX audit_entry_seq ON audit_entry (seq) WHERE seq IS NOT NULL",
    "CREATE INDEX audit_entry_unsealed ON audit_entry (occurred_at, id) WHERE seq IS NULL",
]
_INDEXES_BACK = ["DROP INDEX audit_entry_unsealed", "DROP INDEX audit_entry_seq"]

POSTGRESQL = [
    *_INDEXES,
    # to_jsonb(row) minus the two seal columns: every content column, those added later included.
    f"""CREATE FUNCTION audit_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.leaf_hash IS NOT NULL
           AND to_jsonb(OLD) - 'seq' - 'leaf_hash' = to_jsonb(NEW) - 'seq' - 'leaf_hash' THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_append_only: audit entries cannot be changed' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.seq IS NOT NULL AND OLD.seq <= {_ARCHIVED} THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_append_only: audit entries cannot be deleted before an archive holds them'
        USING ERRCODE = 'integrity_constraint_violation';
END $$""",
    """CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_append_only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$""",
    """CREATE FUNCTION audit_archive_follows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.first_seq <> (SELECT coalesce(max(last_seq), 0) FROM audit_archive) + 1 OR NEW.last_seq < NEW.first_seq THEN
        RAISE EXCEPTION 'audit_append_only: an archive starts right after the previous one'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$""",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_guard()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()",
    "CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse()",
    "CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()",
    "CREATE TRIGGER audit_archive_append_only BEFORE UPDATE OR DELETE ON audit_archive "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse()",
    "CREATE TRIGGER audit_archive_no_truncate BEFORE TRUNCATE ON audit_archive "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()",
    "CREATE TRIGGER audit_archive_in_order BEFORE INSERT ON audit_archive "
    "FOR EACH ROW EXECUTE FUNCTION audit_archive_follows()",
]
POSTGRESQL_BACK = [
    "DROP TRIGGER audit_archive_in_order ON audit_archive",
    "DROP TRIGGER audit_archive_no_truncate ON audit_archive",
    "DROP TRIGGER audit_archive_append_only ON audit_archive",
    "DROP TRIGGER audit_checkpoint_no_truncate ON audit_checkpoint",
    "DROP TRIGGER audit_checkpoint_append_only ON audit_checkpoint",
    "DROP TRIGGER audit_entry_no_truncate ON audit_entry",
    "DROP TRIGGER audit_entry_append_only ON audit_entry",
    "DROP FUNCTION audit_archive_follows()",
    "DROP FUNCTION audit_refuse()",
    "DROP FUNCTION audit_entry_guard()",
    *_INDEXES_BACK,
]

# SQLite has no row-to-JSON: the update guard names every content column (a test checks it names them all).
_UNCHANGED = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in _CONTENT)
SQLITE = [
    *_INDEXES,
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    f"WHEN NOT (OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.leaf_hash IS NOT NULL AND {_UNCHANGED}) "
    "BEGIN SELECT RAISE(ABORT, 'audit_append_only: audit entries cannot be changed'); END",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    f"WHEN OLD.seq IS NULL OR OLD.seq > {_ARCHIVED} "
    "BEGIN SELECT RAISE(ABORT, 'audit_append_only: audit entries cannot be deleted before an archive holds them'); END",
    "CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint "
    "BEGIN SELECT RAISE(ABORT, 'audit_append_only: UPDATE on audit_checkpoint refused'); END",
    "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint "
    "BEGIN SELECT RAISE(ABORT, 'audit_append_only: DELETE on audit_checkpoint refused'); END",
    "CREATE TRIGGER audit_archive_no_update BEFORE UPDATE ON audit_archive "
    "BEGIN SELECT RAISE(ABORT, 'audit_append_only: UPDATE on audit_archive refused'); END",
    "CREATE TRIGGER audit_archive_no_delete BEFORE DELETE ON audit_archive "
    "BEGIN SELECT RAISE(ABORT, 'audit_append_only: DELETE on audit_archive refused'); END",
    "CREATE TRIGGER audit_archive_in_order BEFORE INSERT ON audit_archive "
    f"WHEN NEW.first_seq <> {_ARCHIVED} + 1 OR NEW.last_seq < NEW.first_seq "
    "BEGIN SELECT RAISE(ABORT, 'audit_append_only: an archive starts right after the previous one'); END",
]
SQLITE_BACK = [
    "DROP TRIGGER audit_archive_in_order",
    "DROP TRIGGER audit_archive_no_delete",
    "DROP TRIGGER audit_archive_no_update",
    "DROP TRIGGER audit_checkpoint_no_delete",
    "DROP TRIGGER audit_checkpoint_no_update",
    "DROP TRIGGER audit_entry_no_delete",
    "DROP TRIGGER audit_entry_no_update",
    *_INDEXES_BACK,
]


async def forwards() -> MigrationManager:
    return sql_migration(
        ID, DESCRIPTION, {"postgresql": POSTGRESQL, "sqlite": SQLITE}, {"postgresql": POSTGRESQL_BACK, "sqlite": SQLITE_BACK}
    )
