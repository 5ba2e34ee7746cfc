"""Key rotation: add a key to the key ring, then bring every stored value under it in batches while the
appliance serves. A data-key rotation re-seals every sealed value; a blind-index rotation computes every
blind index again. Progress is kept beside the key ring after every batch, so an interrupted rotation
(stopped, crashed, host restarted) continues where it was when `appliance keys rotate` runs again.
Audited: keys.rotation_started, keys.rotated, keys.blind_index_rotation_started, keys.blind_index_rotated
(key ids and counts only).

Other processes (the app, workers) read the key ring again within `RELOAD_SECONDS` and write with the new
key from then on; what they wrote with the old one meanwhile is caught by a last pass over everything,
after that delay. Old data keys stay in the key ring: backups made before the rotation still open. Old
blind-index keys are kept only while the indexes are rebuilt — lookups compute the index under each, so
rows not rebuilt yet are found — and removed at the end (a backup's indexes are rebuilt when it is
restored through `appliance import`, or by `appliance keys rotate --blind-index`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.audit.trail import add_audit_entry
from appliance.auth.actor import Actor
from appliance.core.crypto.fields import RELOAD_SECONDS, field_crypto
from appliance.core.crypto.registry import BLIND_INDEXES, SEALED
from appliance.core.crypto.reseal import BATCH, count_stale, count_unindexed, reseal_all, reseal_batch
from appliance.core.db import run_sql, write_transaction
from appliance.core.keyring import KeyRing, add_blind_index_key, add_data_key, retire_blind_index_keys


@dataclass
class TableProgress:
    after: str | None = None  # the last row id done
    scanned: int = 0
    resealed: int = 0
    done: bool = False


@dataclass
class Progress:
    key_id: str
    previous_key_ids: list[str]
    started_at: str
    tables: dict[str, TableProgress] = field(default_factory=dict)
    finished_at: str | None = None


@dataclass(frozen=True)
class RotationResult:
    key_id: str
    resumed: bool
    finished: bool
    resealed: dict[str, int]
    remaining: dict[str, int]


@dataclass(frozen=True)
class Kind:
    """What one kind of rotation rotates and how it brings a row under the new key."""

    name: str
    tables: tuple[str, ...]
    reindex: bool  # compute blind indexes again (else re-seal sealed values)
    add_key: Callable[[Path], KeyRing]
    keys_of: Callable[[KeyRing], list[str]]  # the key ids, the current one last
    remaining: Callable[[], Awaitable[dict[str, int]]]
    started: str  # audit actions
    finished: str


def _blind_index_ids(keyring: KeyRing) -> list[str]:
    assert keyring.blind_index_key is not None
    return [k.id for k in keyring.previous_blind_index_keys] + [keyring.blind_index_key.id]


DATA_KEYS = Kind(
    "data", tuple(SEALED), False, add_data_key, lambda k: [key.id for key in k.data_keys], count_stale,
    "keys.rotation_started", "keys.rotated",
)
BLIND_INDEX_KEY = Kind(
    "blind_index", tuple(BLIND_INDEXES), True, add_blind_index_key, _blind_index_ids, count_unindexed,
    "keys.blind_index_rotation_started", "keys.blind_index_rotated",
)


def progress_path(keyring_path: Path, kind: Kind = DATA_KEYS) -> Path:
    suffix = ".rotation.json" if kind is DATA_KEYS else f".{kind.name.replace('_', '-')}-rotation.json"
    return keyring_path.with_name(keyring_path.stem + suffix)


def read_progress(keyring_path: Path, kind: Kind = DATA_KEYS) -> Progress | None:
    try:
        data = json.loads(progress_path(keyring_path, kind).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    tables = {name: TableProgress(**value) for name, value in data.pop("tables", {}).items()}
    return Progress(**data, tables=tables)


def _save(keyring_path: Path, progress: Progress, kind: Kind) -> None:
    path = progress_path(keyring_path, kind)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(progress), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Report = Callable[[str, TableProgress, int], None]


async def rotate(
    *, actor: Actor, batch: int = BATCH, stop_after_batches: int | None = None, report: Report | None = None,
    settle_seconds: float = RELOAD_SECONDS + 1, kind: Kind = DATA_KEYS,
) -> RotationResult:
    """Rotate, or continue an unfinished rotation, of the data keys or (`BLIND_INDEX_KEY`) the blind-index
    key. `stop_after_batches` stops early (as an interruption would), leaving the progress for the next run."""
    crypto = field_crypto()
    keyring_path = crypto.keyring_path
    progress = read_progress(keyring_path, kind)
    resumed = progress is not None and progress.finished_at is None
    if progress is None or progress.finished_at is not None:
        before = kind.keys_of(crypto.keyring(fresh=True))
        progress = Progress(key_id=kind.keys_of(kind.add_key(keyring_path))[-1], previous_key_ids=before, started_at=_now())
        _save(keyring_path, progress, kind)
        details: dict[str, Any] = {"key_id": progress.key_id, "previous_key_ids": progress.previous_key_ids}
        async with write_transaction():
            await add_audit_entry(
                kind.started, actor=actor,
                details=details | ({"suite": crypto.suite} if kind is DATA_KEYS else {}),
            )
    current = kind.keys_of(crypto.keyring(fresh=True))[-1]
    if current != progress.key_id:  # another key was added since: rotate to the newest
        progress.key_id = current
        progress.tables = {}
    batches = 0
    for table in kind.tables:
        state = progress.tables.setdefault(table, TableProgress())
        if state.done:
            continue
        total = int((await run_sql(f'SELECT COUNT(*) AS n FROM "{table}"'))[0]["n"])
        while True:
            if stop_after_batches is not None and batches >= stop_after_batches:
                _save(keyring_path, progress, kind)
                return RotationResult(progress.key_id, resumed, False, _resealed(progress), {})
            step = await reseal_batch(table, after=state.after, batch=batch, reindex=kind.reindex)
            batches += 1
            state.scanned += step.scanned
            state.resealed += step.resealed
            state.after = step.last_id or state.after
            state.done = step.scanned < batch
            _save(keyring_path, progress, kind)
            if report is not None:
                report(table, state, total)
            if state.done:
                break
    # Values other processes wrote under the old key before they read the new key ring.
    await asyncio.sleep(settle_seconds)
    swept = await reseal_all(batch=batch, tables=kind.tables, reindex=kind.reindex)
    for table, count in swept.by_table.items():
        progress.tables[table].resealed += count
    remaining = await kind.remaining()
    retired: list[str] = []
    if kind is BLIND_INDEX_KEY:
        if any(remaining.values()):  # left unfinished: the next run sweeps again, and only then retires
            _save(keyring_path, progress, kind)
            return RotationResult(progress.key_id, resumed, False, _resealed(progress), remaining)
        retired = [k for k in progress.previous_key_ids if k != progress.key_id]
        retire_blind_index_keys(keyring_path, progress.key_id)
    progress.finished_at = _now()
    _save(keyring_path, progress, kind)
    async with write_transaction():
        await add_audit_entry(
            kind.finished, actor=actor,
            details={
                "key_id": progress.key_id, "previous_key_ids": progress.previous_key_ids, "resumed": resumed,
                "resealed": _resealed(progress), "remaining": remaining,
            } | ({"retired_key_ids": retired} if kind is BLIND_INDEX_KEY else {}),
        )
    return RotationResult(progress.key_id, resumed, True, _resealed(progress), remaining)


def _resealed(progress: Progress) -> dict[str, int]:
    return {table: state.resealed for table, state in progress.tables.items()}


async def seal_everything(*, actor: Actor, batch: int = BATCH) -> dict[str, Any]:
    """Seal plaintext left from before field encryption (or restored by hand) and re-seal values not under
    the current key and suite; audited as keys.sealed."""
    done = await reseal_all(batch=batch)
    async with write_transaction():
        await add_audit_entry(
            "keys.sealed", actor=actor,
            details={"scanned": done.scanned, "resealed": done.by_table, "from_plaintext": done.from_plaintext},
        )
    return {"scanned": done.scanned, "resealed": done.by_table, "from_plaintext": done.from_plaintext}
