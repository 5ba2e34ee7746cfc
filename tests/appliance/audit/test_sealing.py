"""Sealing on both engines: every committed entry gets the next place in the log, in the order entries
became visible committed, with no gap even with concurrent writers and sealers; checkpoints are signed
every five minutes while entries come in, by the key ring's key and no other."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import timedelta
from pathlib import Path

import pytest

from appliance.audit.config import AuditConfig, config_from
from appliance.audit.notes import open_checkpoint
from appliance.audit.sealing import latest_checkpoint, read_head, seal_and_checkpoint, seal_pending, sign_head, signing_key
from appliance.audit.tables import AuditCheckpoint, AuditEntry
from appliance.audit.trail import add_audit_entry
from appliance.auth.actor import cli_actor
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Unavailable
from appliance.events.sweeper import every_pass
from appliance.settings import Settings
from tests.appliance.audit.support import recomputed_root, sealed_rows, write_entries
from tests.conftest import make_settings


async def test_committed_entries_get_places_1_to_n_with_the_hash_of_their_canonical_line(audit: AuditConfig) -> None:
    await write_entries(7)

    sealed = await seal_pending(audit)

    rows = await sealed_rows()
    head = await read_head()
    assert sealed == 7 and head is not None and head.size == 7 and head.hash_name == "sha256"
    assert [r["seq"] for r in rows] == list(range(1, 8))
    assert head.frontier.root() == recomputed_root(rows)
    assert await seal_pending(audit) == 0  # nothing twice


async def test_a_backlog_is_sealed_in_batches_up_to_the_limit_of_a_pass(audit: AuditConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("appliance.audit.sealing.SEAL_BATCH", 3)
    await write_entries(8)

    assert await seal_pending(audit, most=5) == 5
    assert await seal_pending(audit) == 3
    assert [r["seq"] for r in await sealed_rows()] == list(range(1, 9))


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
async def test_an_entry_committed_later_is_sealed_later_whatever_its_time(audit: AuditConfig) -> None:
    """Only PostgreSQL lets two write transactions overlap (SQLite runs them one at a time)."""
    release = asyncio.Event()
    inserted = asyncio.Event()

    async def slow_transaction() -> None:
        async with write_transaction():
            await add_audit_entry("booking.slow", actor=cli_actor())  # the earlier time
            inserted.set()
            await release.wait()

    slow = asyncio.create_task(slow_transaction())
    await inserted.wait()
    await write_entries(1, action="booking.fast")
    await seal_pending(audit, wait=True)
    assert [(r["seq"], r["action"]) for r in await sealed_rows()] == [(1, "booking.fast")]

    release.set()
    await slow
    await seal_pending(audit, wait=True)

    rows = await sealed_rows()
    assert [(r["seq"], r["action"]) for r in rows] == [(1, "booking.fast"), (2, "booking.slow")]
    assert rows[1]["occurred_at"] < rows[0]["occurred_at"]  # by commit, not by time
    head = await read_head()
    assert head is not None and head.frontier.root() == recomputed_root(rows)


async def test_concurrent_writers_and_two_sealers_leave_no_gap_and_follow_commit_order(audit: AuditConfig) -> None:
    writers, per_writer = 6, 15
    spans: dict[str, tuple[float, float]] = {}  # entry id -> (transaction started, committed)
    writing = True

    async def writer(number: int) -> None:
        rng = random.Random(number)
        for index in range(per_writer):
            started = time.monotonic()
            async with write_transaction():
                entry_id = await _entry(f"writer {number} entry {index}")
                await asyncio.sleep(rng.random() * 0.004)  # commit at a random later moment
            spans[entry_id] = (started, time.monotonic())

    async def sealer() -> None:
        while writing:
            await seal_pending(audit)
            await asyncio.sleep(0.001)

    sealers = [asyncio.create_task(sealer()) for _ in range(2)]
    await asyncio.gather(*(writer(n) for n in range(writers)))
    writing = False
    await asyncio.gather(*sealers)
    await seal_pending(audit, wait=True)

    rows = await sealed_rows()
    assert [r["seq"] for r in rows] == list(range(1, writers * per_writer + 1))
    assert await AuditEntry.count().where(AuditEntry.seq.is_null()) == 0
    seq_of = {str(r["id"]): r["seq"] for r in rows}
    out_of_order = [
        (a, b) for a, (_, a_committed) in spans.items() for b, (b_started, _) in spans.items()
        if a_committed < b_started and seq_of[a] > seq_of[b]
    ]
    assert out_of_order == []  # committed before another began: sealed before it
    head = await read_head()
    assert head is not None and head.frontier.root() == recomputed_root(rows)


async def _entry(label: str) -> str:
    return str(await add_audit_entry("booking.created", actor=cli_actor(), reason=label))


async def test_the_national_suite_hashes_the_log_with_sm3(settings: Settings, database: str, tmp_path: Path) -> None:
    national = config_from(make_settings(settings.database_url, tmp_path / "var", APPLIANCE_CRYPTO_SUITE="sm4-gcm"))
    await write_entries(5)

    await seal_pending(national)
    checkpoint = await sign_head(national, "export", key=signing_key(national))

    head = await read_head()
    assert head is not None and head.hash_name == "sm3"
    assert checkpoint is not None and checkpoint.root == recomputed_root(await sealed_rows(), "sm3")
    assert "\nhash sm3\n" in checkpoint.note


async def test_a_checkpoint_is_signed_at_most_five_minutes_after_entries_are_sealed(audit: AuditConfig) -> None:
    now = utc_now()
    assert await seal_and_checkpoint(now) == 0 and await latest_checkpoint() is None  # nothing to sign

    await write_entries(2)
    assert await seal_and_checkpoint(now) == 2
    first = await latest_checkpoint()
    await write_entries(1, start=2)
    await seal_and_checkpoint(now + timedelta(minutes=4))  # sealed, not signed yet
    await seal_and_checkpoint(now + timedelta(minutes=5))
    await seal_and_checkpoint(now + timedelta(minutes=11))  # nothing new: nothing to sign

    rows = await AuditCheckpoint.select(AuditCheckpoint.size, AuditCheckpoint.reason).order_by(AuditCheckpoint.signed_at)
    assert [(r["size"], r["reason"]) for r in rows] == [(2, "periodic"), (3, "periodic")]
    assert first is not None
    key = signing_key(audit)
    head = await read_head()
    assert head is not None
    assert open_checkpoint(first.note, key.public_raw).size == 2
    assert open_checkpoint((await latest_checkpoint()).note, key.public_raw).root == head.frontier.root()  # type: ignore[union-attr]


async def test_the_sweeper_seals_and_signs_on_its_every_pass(audit: AuditConfig) -> None:
    await write_entries(3)

    done = await every_pass()

    assert done == {"audit entries sealed": 3, "imports resumed": 0, "report marks refreshed": 0}
    checkpoint = await latest_checkpoint()
    assert checkpoint is not None and checkpoint.size == 3


async def test_another_key_than_the_one_the_log_was_signed_with_is_refused(audit: AuditConfig) -> None:
    await write_entries(1)
    await seal_pending(audit)
    await sign_head(audit, "export", key=signing_key(audit))
    sections = json.loads(audit.keyring_path.read_text())
    audit.keyring_path.unlink()  # a host that made a key ring of its own
    replacement = signing_key(audit)
    assert replacement.id != sections["signing_keys"][0]["id"]

    with pytest.raises(Unavailable, match="different signing key") as refused:
        await sign_head(audit, "export", key=replacement)
    assert refused.value.code == "audit_key_mismatch"
    assert await AuditCheckpoint.count() == 1
