"""Retention on both engines: entries older than the retention period move into a verified archive bundle
and out of the database; both the archive and later exports still verify, against checkpoints kept from
before the move too."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from appliance.audit.actions import ARCHIVE_MAX_ENTRIES, archive_expired, export_audit_log
from appliance.audit.config import AuditConfig
from appliance.audit.sealing import seal_pending, sign_head, signing_key
from appliance.audit.tables import AuditArchive, AuditEntry
from appliance.audit.verify import verify_bundle
from appliance.auth.actor import cli_actor
from appliance.core.clock import utc_now
from appliance.events.sweeper import housekeeping
from appliance.settings import SettingsError, load_settings
from tests.appliance.audit.support import write_entries


async def write_old_entries(count: int, age: timedelta, monkeypatch: pytest.MonkeyPatch, start: int = 0) -> None:
    written_at = utc_now() - age
    with monkeypatch.context() as patched:
        patched.setattr("appliance.audit.trail.utc_now", lambda: written_at)
        await write_entries(count, start=start)


async def test_entries_past_retention_move_to_an_archive_that_verifies_and_exports_go_on_verifying(
    audit: AuditConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await write_old_entries(6, timedelta(days=200), monkeypatch)
    await write_old_entries(2, timedelta(days=179), monkeypatch, start=6)
    await write_entries(2, start=8)
    await seal_pending(audit)
    kept = await sign_head(audit, "periodic", key=signing_key(audit))  # an officer keeps this one
    assert kept is not None and kept.size == 10

    archived = (await housekeeping(utc_now()))["audit entries archived"]

    assert archived == 6
    [record] = await AuditArchive.select()
    assert (record["first_seq"], record["last_seq"], record["entries"]) == (1, 6, 6)
    archive = audit.archive_dir / record["file_name"]
    report = verify_bundle(archive, checkpoint_note=kept.note)
    assert report.ok, report.problems
    assert report.facts[0].startswith("archive of seq 1–6 (6 entries)")
    assert [r["seq"] for r in await AuditEntry.select(AuditEntry.seq).where(AuditEntry.seq.is_not_null()).order_by(AuditEntry.seq)] == [7, 8, 9, 10]
    archived_entry = await AuditEntry.select().where(AuditEntry.action == "audit.archived").output(load_json=True).first()
    assert archived_entry is not None and archived_entry["details"]["sha256"] == record["sha256"]
    assert await archive_expired(utc_now()) == 0  # nothing more is old enough

    later = (await export_audit_log(tmp_path / "after.zip", actor=cli_actor())).bundle
    after = verify_bundle(later.path, checkpoint_note=kept.note)
    assert after.ok, after.problems
    assert after.facts[0].startswith("export of seq 7–11 (5 entries)")  # and the archive's own entry
    assert "entries 1–6 had been archived when it was made" in after.facts


async def test_a_large_backlog_is_archived_a_file_at_a_time(
    audit: AuditConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("appliance.audit.actions.ARCHIVE_MAX_ENTRIES", 3)
    await write_old_entries(7, timedelta(days=365), monkeypatch)
    await seal_pending(audit)

    sizes = [await archive_expired(utc_now()) for _ in range(4)]

    assert sizes == [3, 3, 1, 0]
    ranges = [(r["first_seq"], r["last_seq"]) for r in await AuditArchive.select().order_by(AuditArchive.first_seq)]
    assert ranges == [(1, 3), (4, 6), (7, 7)]
    for name in [r["file_name"] for r in await AuditArchive.select(AuditArchive.file_name)]:
        assert verify_bundle(audit.archive_dir / name).ok
    assert ARCHIVE_MAX_ENTRIES >= 10_000


async def test_an_archive_that_does_not_verify_deletes_nothing(
    audit: AuditConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await write_old_entries(3, timedelta(days=365), monkeypatch)
    await seal_pending(audit)

    def damaged(*args: object, **kwargs: object) -> object:
        from appliance.audit.verify import Report

        return Report(bundle=Path("x"), problems=["entries.jsonl does not match the manifest"])

    monkeypatch.setattr("appliance.audit.actions.verify_bundle", damaged)
    with pytest.raises(Exception, match="did not verify"):
        await archive_expired(utc_now())

    assert await AuditEntry.count() == 3 and await AuditArchive.count() == 0
    assert list(audit.archive_dir.glob("*.zip")) == []


def test_retention_is_at_least_six_months() -> None:
    with pytest.raises(SettingsError, match="APPLIANCE_AUDIT_RETENTION_DAYS: must be at least 180"):
        load_settings({"APPLIANCE_AUDIT_RETENTION_DAYS": "90"})
    assert load_settings({}).audit.retention_days == 180
    assert load_settings({"APPLIANCE_AUDIT_RETENTION_DAYS": "1095"}).audit.retention_days == 1095


async def test_an_archive_holds_what_an_export_holds(audit: AuditConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    await write_old_entries(2, timedelta(days=365), monkeypatch)
    await seal_pending(audit)

    await archive_expired(utc_now())

    [name] = [r["file_name"] for r in await AuditArchive.select(AuditArchive.file_name)]
    with zipfile.ZipFile(audit.archive_dir / name) as bundle:
        assert sorted(bundle.namelist()) == [
            "README.txt", "checkpoint.txt", "entries.csv", "entries.jsonl", "leaf-hashes.txt", "manifest.json",
            "manifest.sig", "public-key.pem",
        ]
