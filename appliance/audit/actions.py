"""Exporting and archiving the audit log: each writes a verifiable bundle, and is audited itself."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import uuid4

from appliance.audit.bundles import Bundle, archived_through, bundle_name, write_bundle
from appliance.audit.config import AuditConfig, audit_config, configured
from appliance.audit.logic import format_instant
from appliance.audit.sealing import (
    LogHead, StoredCheckpoint, latest_checkpoint, lock_log, read_head, seal_pending, sign_head, signing_key,
)
from appliance.audit.tables import AuditArchive, AuditEntry
from appliance.audit.trail import record_change
from appliance.audit.verify import verify_bundle
from appliance.auth.actor import Actor, system_actor
from appliance.auth.roles import Permission
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Forbidden, Unavailable
from appliance.core.log import get_logger
from appliance.events.envelope import Subject

_log = get_logger(__name__)

ARCHIVE_MAX_ENTRIES = 100_000  # per archive file (one file per housekeeping run at most)


@dataclass(frozen=True)
class Export:
    id: str
    bundle: Bundle
    checkpoint: StoredCheckpoint


async def _first_seq_from(since: datetime, low: int, high: int) -> int:
    row = await AuditEntry.select(AuditEntry.seq).where(
        (AuditEntry.seq >= low) & (AuditEntry.seq <= high) & (AuditEntry.occurred_at >= since)
    ).order_by(AuditEntry.seq).first()
    return int(row["seq"]) if row else high + 1


async def _last_seq_before(until: datetime, low: int, high: int) -> int:
    row = await AuditEntry.select(AuditEntry.seq).where(
        (AuditEntry.seq >= low) & (AuditEntry.seq <= high) & (AuditEntry.occurred_at < until)
    ).order_by(AuditEntry.seq, ascending=False).first()
    return int(row["seq"]) if row else low - 1


async def seq_range(since: datetime | None, until: datetime | None, low: int, high: int) -> tuple[int, int]:
    """The run of seq from the first entry at or after `since` to the last one before `until`, within
    low..high. Entries are numbered in commit order, so a run can hold a few entries whose time lies just
    outside the window (a transaction that took a while); it never leaves one inside out."""
    first = low if since is None else await _first_seq_from(since, low, high)
    last = high if until is None else await _last_seq_before(until, low, high)
    return first, max(last, first - 1)


async def export_audit_log(
    target: Path, *, actor: Actor, since: datetime | None = None, until: datetime | None = None
) -> Export:
    """Seal everything committed, sign a checkpoint, and write the entries from `since` to `until` (all
    that are online when unset) as a bundle at `target`. Audited as `audit.exported`."""
    if not actor.can(Permission.audit_export):
        raise Forbidden("exporting the audit log needs the permission audit.export")
    config = audit_config()
    key = signing_key(config)
    await seal_pending(config, wait=True)
    checkpoint = await sign_head(config, "export", key=key)
    assert checkpoint is not None
    head = await read_head()
    assert head is not None
    archived, _ = await archived_through()
    first, last = await seq_range(since, until, archived + 1, checkpoint.size)
    export_id = str(uuid4())
    filters = {
        "since": format_instant(since) if since else None, "until": format_instant(until) if until else None,
    }
    bundle = await write_bundle(
        target, kind="export", first_seq=first, last_seq=last, head=head, checkpoint=checkpoint, key=key,
        created_by=f"{actor.kind}:{actor.id or actor.label}", filters=filters, work_dir=config.work_dir,
    )
    facts = {
        "first_seq": first, "last_seq": last, "entries": bundle.entries, "tree_size": checkpoint.size,
        "sha256": bundle.sha256, "bytes": bundle.size_bytes, **filters,
    }
    await record_change("audit.exported", Subject("audit_export", export_id), facts, actor=actor, details=facts)
    return Export(id=export_id, bundle=bundle, checkpoint=checkpoint)


def export_file_name(head: LogHead | None, at: datetime) -> str:
    return f"audit-export-{(head.log_id[:8] + '-') if head else ''}{at.strftime('%Y%m%dT%H%M%SZ')}.zip"


async def archive_expired(now: datetime) -> int:
    """Housekeeping: move the entries older than the retention period (a run from the oldest one, at most
    ARCHIVE_MAX_ENTRIES) into a bundle in the archive directory, check that bundle, then delete them from
    the database with an archive record the triggers require. Returns how many were archived."""
    config = configured()
    if config is None:
        return 0
    return await archive_before(now - config.retention, config)


async def archive_before(cutoff: datetime, config: AuditConfig | None = None) -> int:
    config = config or audit_config()
    head = await read_head()
    if head is None:
        return 0
    archived, _ = await archived_through()
    first_kept = await _first_seq_from(cutoff, archived + 1, head.size)
    last = min(first_kept - 1, archived + ARCHIVE_MAX_ENTRIES)
    if last <= archived:
        return 0
    key = signing_key(config)
    checkpoint = await latest_checkpoint()
    if checkpoint is None or checkpoint.size < last:
        checkpoint = await sign_head(config, "archive", key=key)
        assert checkpoint is not None
    name = bundle_name("archive", head, archived + 1, last, utc_now())
    bundle = await write_bundle(
        config.archive_dir / name, kind="archive", first_seq=archived + 1, last_seq=last, head=head,
        checkpoint=checkpoint, key=key, created_by="system:audit archive",
        filters={"since": None, "until": format_instant(cutoff)}, work_dir=config.work_dir,
    )
    report = await asyncio.to_thread(verify_bundle, bundle.path)
    if not report.ok:
        bundle.path.unlink(missing_ok=True)
        _log.error("audit_archive_not_verified", first_seq=archived + 1, last_seq=last, problem=report.problems[0])
        raise Unavailable(f"the archive of seq {archived + 1}–{last} did not verify: {report.problems[0]}")
    facts = {
        "first_seq": archived + 1, "last_seq": last, "entries": bundle.entries, "file": name, "sha256": bundle.sha256,
        "tree_size": checkpoint.size, "cutoff": format_instant(cutoff),
    }
    async with write_transaction():
        await lock_log()
        if (await archived_through())[0] != archived:  # another process archived meanwhile: keep theirs
            bundle.path.unlink(missing_ok=True)
            return 0
        await AuditArchive.insert(
            AuditArchive(
                first_seq=archived + 1, last_seq=last, entries=bundle.entries, file_name=name, sha256=bundle.sha256,
                tree_size=checkpoint.size, frontier=bundle.frontier, created_at=utc_now(),
            )
        )
        await AuditEntry.delete().where((AuditEntry.seq >= archived + 1) & (AuditEntry.seq <= last))
        await record_change(
            "audit.archived", Subject("audit_archive", name), facts, actor=system_actor("audit archive"), details=facts
        )
    _log.info("audit_archived", first_seq=archived + 1, last_seq=last, file=name)
    return bundle.entries
