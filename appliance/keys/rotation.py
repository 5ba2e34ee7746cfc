"""Data-key rotation: add a key to the key ring, then re-seal every sealed value under it in batches while
the appliance serves. Progress is kept beside the key ring after every batch, so an interrupted rotation
(stopped, crashed, host restarted) continues where it was when `appliance keys rotate` runs again.
Audited: keys.rotation_started, keys.rotated (key ids and counts only).

Other processes (the app, workers) read the key ring again within `RELOAD_SECONDS` and seal with the new
key from then on; what they sealed with the old one meanwhile is caught by a last pass over everything,
after that delay. The old keys stay in the key ring: backups made before the rotation still open.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.audit.trail import add_audit_entry
from appliance.auth.actor import Actor
from appliance.core.crypto.fields import RELOAD_SECONDS, field_crypto
from appliance.core.crypto.registry import SEALED
from appliance.core.crypto.reseal import BATCH, count_stale, reseal_all, reseal_batch
from appliance.core.db import run_sql, write_transaction
from appliance.core.keyring import add_data_key


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


def progress_path(keyring_path: Path) -> Path:
    return keyring_path.with_name(keyring_path.stem + ".rotation.json")


def read_progress(keyring_path: Path) -> Progress | None:
    try:
        data = json.loads(progress_path(keyring_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    tables = {name: TableProgress(**value) for name, value in data.pop("tables", {}).items()}
    return Progress(**data, tables=tables)


def _save(keyring_path: Path, progress: Progress) -> None:
    path = progress_path(keyring_path)
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
    settle_seconds: float = RELOAD_SECONDS + 1,
) -> RotationResult:
    """Rotate, or continue an unfinished rotation. `stop_after_batches` stops early (as an interruption
    would), leaving the progress for the next run."""
    crypto = field_crypto()
    keyring_path = crypto.keyring_path
    progress = read_progress(keyring_path)
    resumed = progress is not None and progress.finished_at is None
    if progress is None or progress.finished_at is not None:
        before = crypto.keyring(fresh=True)
        keyring = add_data_key(keyring_path)
        progress = Progress(
            key_id=keyring.data_key().id, previous_key_ids=[k.id for k in before.data_keys], started_at=_now(),
        )
        _save(keyring_path, progress)
        async with write_transaction():
            await add_audit_entry(
                "keys.rotation_started", actor=actor,
                details={"key_id": progress.key_id, "previous_key_ids": progress.previous_key_ids, "suite": crypto.suite},
            )
    keyring = crypto.keyring(fresh=True)
    if keyring.data_key().id != progress.key_id:  # another key was added since: rotate to the newest
        progress.key_id = keyring.data_key().id
        progress.tables = {}
    batches = 0
    for table in SEALED:
        state = progress.tables.setdefault(table, TableProgress())
        if state.done:
            continue
        total = int((await run_sql(f'SELECT COUNT(*) AS n FROM "{table}"'))[0]["n"])
        while True:
            if stop_after_batches is not None and batches >= stop_after_batches:
                _save(keyring_path, progress)
                return RotationResult(progress.key_id, resumed, False, _resealed(progress), {})
            step = await reseal_batch(table, after=state.after, batch=batch)
            batches += 1
            state.scanned += step.scanned
            state.resealed += step.resealed
            state.after = step.last_id or state.after
            state.done = step.scanned < batch
            _save(keyring_path, progress)
            if report is not None:
                report(table, state, total)
            if state.done:
                break
    # Values other processes sealed under the old key before they read the new key ring.
    await asyncio.sleep(settle_seconds)
    swept = await reseal_all(batch=batch)
    for table, count in swept.by_table.items():
        progress.tables[table].resealed += count
    remaining = await count_stale()
    progress.finished_at = _now()
    _save(keyring_path, progress)
    async with write_transaction():
        await add_audit_entry(
            "keys.rotated", actor=actor,
            details={
                "key_id": progress.key_id, "previous_key_ids": progress.previous_key_ids, "resumed": resumed,
                "resealed": _resealed(progress), "remaining": remaining,
            },
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
