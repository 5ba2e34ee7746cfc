"""Writing audit bundles (exports and archives) from the database: a zip that `appliance audit verify`
checks with nothing else (format in `appliance/audit/verify.py`). Streams in chunks: memory stays flat
whatever the number of entries."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from appliance.audit.logic import CSV_COLUMNS, csv_row, entry_line, entry_record, format_instant
from appliance.audit.merkle import Frontier, range_heights
from appliance.audit.notes import verifier_key
from appliance.audit.sealing import ENTRY_COLUMNS, LogHead, StoredCheckpoint, checkpoints_between
from appliance.audit.tables import AuditArchive, AuditEntry
from appliance.audit.verify import (
    BUNDLE_FORMAT, CHECKPOINT, CHECKPOINTS_DIR, ENTRIES, ENTRIES_CSV, LEAF_HASHES, MANIFEST, MANIFEST_SIGNATURE,
    PUBLIC_KEY, README,
)
from appliance.core.clock import utc_now
from appliance.core.errors import Unavailable
from appliance.core.keyring import SigningKey, public_key_fingerprint, public_key_pem
from appliance.core.log import get_logger

_log = get_logger(__name__)

ROWS_PER_QUERY = 2_000
HASHES_PER_QUERY = 20_000
BundleKind = Literal["export", "archive"]

_README = """An audit bundle of the booking appliance: entries {first}–{last} of the audit log {origin}.

Check it with the appliance's command line (nothing else is needed):

    appliance audit verify {name}

and, to be sure nothing was removed or rewritten since an earlier bundle, give that bundle's checkpoint:

    appliance audit verify {name} --checkpoint earlier-checkpoint.txt

Keep this bundle's checkpoint.txt for the next time. entries.jsonl holds the entries exactly as they were
hashed; entries.csv is the same for spreadsheets. manifest.json lists the SHA-256 of every file.
"""


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    size_bytes: int
    first_seq: int
    last_seq: int
    tree_size: int
    archived_through: int
    frontier: list[str]  # the tree of seq 1..last_seq, hex

    @property
    def entries(self) -> int:
        return self.last_seq - self.first_seq + 1


async def archived_through() -> tuple[int, list[bytes]]:
    """The last archived seq (0: none) and the frontier of the tree up to it."""
    row = await AuditArchive.select(AuditArchive.last_seq, AuditArchive.frontier).order_by(
        AuditArchive.last_seq, ascending=False
    ).output(load_json=True).first()
    if row is None:
        return 0, []
    return int(row["last_seq"]), [bytes.fromhex(h) for h in row["frontier"]]


async def sealed_hashes(first: int, last: int) -> AsyncIterator[bytes]:
    """The sealed leaf hashes of seq first..last, in order; Unavailable if one is missing."""
    start = first
    while start <= last:
        end = min(last, start + HASHES_PER_QUERY - 1)
        rows = await AuditEntry.select(AuditEntry.seq, AuditEntry.leaf_hash).where(
            (AuditEntry.seq >= start) & (AuditEntry.seq <= end)
        ).order_by(AuditEntry.seq)
        for expected, row in enumerate(rows, start=start):
            if row["seq"] != expected:
                raise Unavailable(
                    f"the audit log is damaged: entry seq {expected} is missing from the database", code="audit_damaged"
                )
            yield bytes.fromhex(row["leaf_hash"])
        if len(rows) != end - start + 1:
            raise Unavailable(
                f"the audit log is damaged: entry seq {start + len(rows)} is missing from the database",
                code="audit_damaged",
            )
        start = end + 1


async def _sealed_rows(first: int, last: int) -> AsyncIterator[dict[str, Any]]:
    start = first
    while start <= last:
        end = min(last, start + ROWS_PER_QUERY - 1)
        rows = await AuditEntry.select(*ENTRY_COLUMNS, AuditEntry.seq, AuditEntry.leaf_hash).where(
            (AuditEntry.seq >= start) & (AuditEntry.seq <= end)
        ).order_by(AuditEntry.seq).output(load_json=True)
        for row in rows:
            yield row
        start = end + 1


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest(), path.stat().st_size


async def write_bundle(
    target: Path, *, kind: BundleKind, first_seq: int, last_seq: int, head: LogHead, checkpoint: StoredCheckpoint,
    key: SigningKey, created_by: str, filters: Mapping[str, str | None], work_dir: Path,
) -> Bundle:
    """Write entries first_seq..last_seq (none when last_seq < first_seq) and the proof that they belong to
    the tree `checkpoint` signs into the zip file `target` (replaced whole, never half-written)."""
    hasher = head.frontier.hasher
    archived, archived_frontier = await archived_through()
    if first_seq <= archived or last_seq > checkpoint.size:
        raise ValueError(f"seq {first_seq}–{last_seq} is not in the live log ({archived + 1}–{checkpoint.size})")
    prefix = Frontier(hasher, archived, archived_frontier)
    async for leaf in sealed_hashes(archived + 1, first_seq - 1):
        prefix.append(leaf)
    tree = prefix.copy()

    work_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="audit-bundle-", dir=work_dir))
    try:
        drifted = 0
        with (
            (staging / ENTRIES).open("wb") as jsonl,
            (staging / ENTRIES_CSV).open("w", encoding="utf-8-sig", newline="") as csv_file,
            (staging / LEAF_HASHES).open("w", encoding="ascii") as leaves,
        ):
            writer = csv.writer(csv_file)
            writer.writerow(CSV_COLUMNS)
            expected = first_seq
            async for row in _sealed_rows(first_seq, last_seq):
                seq = int(row["seq"])
                if seq != expected:
                    _log.error("audit_entries_missing", first_missing=expected, next_present=seq)
                expected = seq + 1
                record = entry_record(row, seq)
                line = entry_line(record)
                if hasher.leaf(line).hex() != row["leaf_hash"]:
                    drifted += 1  # changed in the database after sealing: the verifier names it
                jsonl.write(line + b"\n")
                writer.writerow(csv_row(record))
                leaves.write(f"{seq} {row['leaf_hash']}\n")
                tree.append(bytes.fromhex(row["leaf_hash"]))
        if drifted:
            _log.error("audit_entries_changed_after_sealing", count=drifted)
        frontier_after = [n.hex() for n in tree.nodes]

        suffix = []
        for start, height in range_heights(last_seq, checkpoint.size):
            subtree = Frontier(hasher)
            async for leaf in sealed_hashes(start + 1, start + (1 << height)):
                subtree.append(leaf)
            suffix.append(subtree.root())

        checkpoints_dir = staging / CHECKPOINTS_DIR
        checkpoints_dir.mkdir()
        for stored in await checkpoints_between(first_seq, last_seq):
            if stored.note == checkpoint.note:
                continue  # it is checkpoint.txt
            (checkpoints_dir / f"{stored.size:012d}.txt").write_text(stored.note, encoding="utf-8")
        (staging / CHECKPOINT).write_text(checkpoint.note, encoding="utf-8")
        (staging / PUBLIC_KEY).write_bytes(public_key_pem(key.public_raw))
        (staging / README).write_text(
            _README.format(first=first_seq, last=last_seq, origin=head.origin, name=target.name), encoding="utf-8"
        )

        members = sorted(
            str(path.relative_to(staging)) for path in staging.rglob("*") if path.is_file()
        )
        files = {}
        for name in members:
            digest, size = _file_digest(staging / name)
            files[name] = {"sha256": digest, "bytes": size}
        manifest = {
            "format": BUNDLE_FORMAT, "kind": kind, "origin": head.origin, "log_id": head.log_id,
            "hash": head.hash_name, "created_at": format_instant(utc_now()), "created_by": created_by,
            "filters": dict(filters), "first_seq": first_seq, "last_seq": last_seq,
            "entries": max(0, last_seq - first_seq + 1), "tree_size": checkpoint.size, "archived_through": archived,
            "prefix": [n.hex() for n in prefix.nodes], "suffix": [n.hex() for n in suffix],
            "checkpoint": {"file": CHECKPOINT, "size": checkpoint.size, "root": checkpoint.root.hex()},
            "public_key": {
                "file": PUBLIC_KEY, "key_id": key.id, "fingerprint": public_key_fingerprint(key.public_raw),
                "note_verifier": verifier_key(head.origin, key.public_raw),
            },
            "files": files,
        }
        manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        (staging / MANIFEST).write_bytes(manifest_bytes)
        (staging / MANIFEST_SIGNATURE).write_text(base64.b64encode(key.sign(manifest_bytes)).decode() + "\n")

        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for name in [MANIFEST, MANIFEST_SIGNATURE, *members]:
                archive.write(staging / name, name)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    digest, size = _file_digest(target)
    return Bundle(
        path=target, sha256=digest, size_bytes=size, first_seq=first_seq, last_seq=last_seq,
        tree_size=checkpoint.size, archived_through=archived, frontier=frontier_after,
    )


def bundle_name(kind: BundleKind, head: LogHead, first_seq: int, last_seq: int, at: datetime) -> str:
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    return f"audit-{kind}-{head.log_id[:8]}-{first_seq:09d}-{last_seq:09d}-{stamp}.zip"
