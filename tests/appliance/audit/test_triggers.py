"""The database itself refuses to change or remove audit data, on both engines: only the sealer's one-time
placing of an entry, and deleting what an archive record covers, get through."""

from __future__ import annotations

from uuid import UUID

import pytest
from piccolo.querystring import QueryString

from appliance.audit.config import AuditConfig
from appliance.audit.sealing import seal_pending, sign_head, signing_key
from appliance.audit.tables import AuditArchive, AuditCheckpoint, AuditEntry
from appliance.core import db
from appliance.core.clock import utc_now
from tests.appliance.audit.support import write_entries

REFUSED = "audit_append_only"


async def first_entry() -> UUID:
    row = await AuditEntry.select(AuditEntry.id).order_by(AuditEntry.occurred_at).first()
    assert row is not None
    return UUID(str(row["id"]))


async def test_changing_an_entry_sealed_or_not_is_refused(audit: AuditConfig) -> None:
    await write_entries(2)
    unsealed = await first_entry()
    with pytest.raises(Exception, match=REFUSED):
        await AuditEntry.update({AuditEntry.reason: "nothing happened"}).where(AuditEntry.id == unsealed)
    await seal_pending(audit)

    with pytest.raises(Exception, match=REFUSED):
        await AuditEntry.update({AuditEntry.actor_label: "someone else"}).where(AuditEntry.id == unsealed)
    with pytest.raises(Exception, match=REFUSED):
        await AuditEntry.update({AuditEntry.seq: 9, AuditEntry.leaf_hash: "0" * 64}).where(AuditEntry.id == unsealed)
    rows = await AuditEntry.select(AuditEntry.seq, AuditEntry.reason, AuditEntry.actor_label).order_by(AuditEntry.seq)
    assert [r["seq"] for r in rows] == [1, 2] and rows[0]["reason"] == ""


async def test_sealing_must_leave_the_content_as_it_is(audit: AuditConfig) -> None:
    await write_entries(1)
    entry = await first_entry()

    with pytest.raises(Exception, match=REFUSED):
        await AuditEntry.update({
            AuditEntry.seq: 1, AuditEntry.leaf_hash: "0" * 64, AuditEntry.details: {"forged": True},
        }).where(AuditEntry.id == entry)
    await AuditEntry.update({AuditEntry.seq: 1, AuditEntry.leaf_hash: "0" * 64}).where(AuditEntry.id == entry)  # allowed once


async def test_deleting_entries_is_refused_until_an_archive_covers_them(audit: AuditConfig) -> None:
    await write_entries(3)
    with pytest.raises(Exception, match=REFUSED):
        await AuditEntry.delete().where(AuditEntry.id == await first_entry())  # not even sealed
    await seal_pending(audit)
    with pytest.raises(Exception, match=REFUSED):
        await AuditEntry.delete(force=True)

    await AuditArchive.insert(AuditArchive(
        first_seq=1, last_seq=2, entries=2, file_name="a.zip", sha256="0" * 64, tree_size=3, frontier=[],
        created_at=utc_now(),
    ))
    await AuditEntry.delete().where(AuditEntry.seq <= 2)
    with pytest.raises(Exception, match=REFUSED):
        await AuditEntry.delete().where(AuditEntry.seq == 3)
    assert [r["seq"] for r in await AuditEntry.select(AuditEntry.seq)] == [3]


async def test_archive_records_follow_each_other_and_stay(audit: AuditConfig) -> None:
    await write_entries(4)
    await seal_pending(audit)

    def archive(first: int, last: int) -> AuditArchive:
        return AuditArchive(
            first_seq=first, last_seq=last, entries=last - first + 1, file_name=f"{first}.zip", sha256="0" * 64,
            tree_size=4, frontier=[], created_at=utc_now(),
        )

    for first, last in [(2, 3), (3, 2)]:  # a gap before it, an empty range
        with pytest.raises(Exception, match=REFUSED):
            await AuditArchive.insert(archive(first, last))
    await AuditArchive.insert(archive(1, 2))
    with pytest.raises(Exception, match=REFUSED):
        await AuditArchive.update({AuditArchive.last_seq: 4}).where(AuditArchive.first_seq == 1)
    with pytest.raises(Exception, match=REFUSED):
        await AuditArchive.delete(force=True)


async def test_checkpoints_cannot_be_changed_or_removed(audit: AuditConfig) -> None:
    await write_entries(1)
    await seal_pending(audit)
    await sign_head(audit, "export", key=signing_key(audit))

    with pytest.raises(Exception, match=REFUSED):
        await AuditCheckpoint.update({AuditCheckpoint.size: 0}).where(AuditCheckpoint.size == 1)
    with pytest.raises(Exception, match=REFUSED):
        await AuditCheckpoint.delete(force=True)
    assert await AuditCheckpoint.count() == 1


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
async def test_truncating_an_audit_table_is_refused(audit: AuditConfig) -> None:
    """TRUNCATE skips row triggers: PostgreSQL gets statement triggers for it (SQLite has no TRUNCATE)."""
    await write_entries(1)
    for table in ("audit_entry", "audit_checkpoint", "audit_archive"):
        with pytest.raises(Exception, match=REFUSED):
            await db.current_engine().run_ddl(f"TRUNCATE {table} CASCADE")
    assert await AuditEntry.count() == 1


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
async def test_the_sqlite_update_guard_names_every_content_column(database: str) -> None:
    """SQLite has no row-to-JSON: a column added to AuditEntry must be added to the trigger too."""
    rows = await db.current_engine().run_querystring(
        QueryString("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = {}", "audit_entry_no_update")
    )
    sql = rows[0]["sql"]
    content = [c._meta.db_column_name for c in AuditEntry._meta.columns if c._meta.name not in ("seq", "leaf_hash")]
    assert [c for c in content if f"NEW.{c} IS OLD.{c}" not in sql] == []
