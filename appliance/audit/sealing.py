"""Sealing the audit log: committed entries get their place and hash, and signed checkpoints cover them.

Entries are inserted by business transactions with no place in the log (`seq` NULL). The sealer — a step
of the sweeper, and of every export — takes the log's lock (a PostgreSQL advisory lock; SQLite's write
transactions are one at a time already), reads the entries committed and not sealed yet, gives them the
next numbers in that order, hashes each (RFC 9162 leaf of its canonical line) into the Merkle tree, and
moves the log's head on, all in one transaction. An entry whose transaction commits later is sealed by a
later pass with a later number: numbers follow the order in which entries became visible, committed,
never leave a gap, and a sealed prefix never changes. See docs/architecture.md, "Audit log".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from piccolo.querystring import QueryString

from appliance.audit.config import CHECKPOINT_EVERY, AuditConfig, configured
from appliance.audit.logic import canonical_json, entry_line, entry_record
from appliance.audit.merkle import Frontier, Hasher, HashName
from appliance.audit.notes import Checkpoint, sign_checkpoint
from appliance.audit.tables import AuditCheckpoint, AuditEntry, AuditLog
from appliance.core.clock import utc_now
from appliance.core.db import (
    current_dialect, current_engine, json_value, lock_for_transaction, uuid_value, write_transaction,
)
from appliance.core.errors import Unavailable
from appliance.core.keyring import KeyRingError, SigningKey, ensure_signing_key
from appliance.core.log import get_logger

_log = get_logger(__name__)

SEAL_BATCH = 500  # entries per sealing transaction (SQLite's writers wait while one runs)
SEAL_PER_PASS = 20_000  # at most per sweeper pass, so a backlog does not hold up the rest of its work
_LOCK_KEY = "appliance.audit.log"
CheckpointReason = Literal["periodic", "export", "archive"]

# The content columns: everything the canonical line is made of.
ENTRY_COLUMNS = (
    AuditEntry.id, AuditEntry.occurred_at, AuditEntry.actor_kind, AuditEntry.actor_id, AuditEntry.actor_label,
    AuditEntry.auth_method, AuditEntry.ip, AuditEntry.request_id, AuditEntry.action, AuditEntry.target_type,
    AuditEntry.target_id, AuditEntry.result, AuditEntry.reason, AuditEntry.changed_fields, AuditEntry.details,
)


@dataclass
class LogHead:
    row_id: UUID
    log_id: str
    origin: str
    hash_name: HashName
    frontier: Frontier
    public_key: str  # hex; empty until the first checkpoint

    @property
    def size(self) -> int:
        return self.frontier.size


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    signed_at: datetime
    note: str
    key_id: str


async def _take_lock(*, wait: bool) -> bool:
    """The log's lock for this transaction; False when `wait` is off and another process holds it."""
    if wait or current_dialect() != "postgresql":
        await lock_for_transaction(_LOCK_KEY)
        return True
    rows = await current_engine().run_querystring(
        QueryString("SELECT pg_try_advisory_xact_lock(hashtext({})) AS taken", _LOCK_KEY)
    )
    return bool(rows[0]["taken"])


async def lock_log() -> None:
    """Serialise this transaction with every other change to the log's head (sealing, signing, archiving)."""
    await _take_lock(wait=True)


def _head_from_row(row: dict[str, Any]) -> LogHead:
    hash_name: HashName = row["hash_name"]
    nodes = [bytes.fromhex(h) for h in json_value(row["frontier"])]
    return LogHead(
        row_id=uuid_value(row["id"]), log_id=row["log_id"], origin=row["origin"], hash_name=hash_name,
        frontier=Frontier(Hasher(hash_name), int(row["size"]), nodes), public_key=row["public_key"],
    )


async def read_head() -> LogHead | None:
    row = await AuditLog.select().first()
    return _head_from_row(row) if row is not None else None


async def _head_or_new(config: AuditConfig) -> LogHead:
    """The log's head; the log starts here if it has none (inside the lock)."""
    if (head := await read_head()) is not None:
        return head
    log_id = uuid4().hex
    await AuditLog.insert(
        AuditLog(
            id=uuid4(), log_id=log_id, origin=f"{config.origin_host}/audit/{log_id[:16]}", hash_name=config.hash_name, size=0,
            frontier=[], public_key="", created_at=utc_now(),
        )
    )
    head = await read_head()
    assert head is not None
    if head.hash_name != config.hash_name:  # pragma: no cover - a concurrent start; the first one won
        _log.warning("audit_hash_differs", log=head.hash_name, configured=config.hash_name)
    return head


async def _save_head(head: LogHead, now: datetime) -> None:
    await AuditLog.update({
        AuditLog.size: head.size, AuditLog.frontier: [n.hex() for n in head.frontier.nodes], AuditLog.sealed_at: now,
    }).where(AuditLog.id == head.row_id)


async def _set_places(ids: list[UUID], seqs: list[int], hashes: list[str]) -> None:
    """Give each entry its seq and leaf hash in one statement (the triggers allow exactly this, once)."""
    if current_dialect() == "postgresql":
        await current_engine().run_querystring(QueryString(
            "UPDATE audit_entry AS e SET seq = v.seq, leaf_hash = v.leaf_hash "
            "FROM unnest({}::uuid[], {}::bigint[], {}::varchar[]) AS v(id, seq, leaf_hash) WHERE e.id = v.id",
            ids, seqs, hashes,
        ))
    else:
        places = canonical_json([[str(i), s, h] for i, s, h in zip(ids, seqs, hashes, strict=True)])
        await current_engine().run_querystring(QueryString(
            "UPDATE audit_entry SET seq = json_extract(p.value, '$[1]'), leaf_hash = json_extract(p.value, '$[2]') "
            "FROM json_each({}) AS p WHERE audit_entry.id = json_extract(p.value, '$[0]')",
            places,
        ))


async def _seal_batch(config: AuditConfig, *, wait: bool, limit: int) -> int | None:
    """Seal up to `limit` entries in one transaction; None when another process holds the lock."""
    async with write_transaction():
        if not await _take_lock(wait=wait):
            return None
        rows = await AuditEntry.select(*ENTRY_COLUMNS).where(AuditEntry.seq.is_null()).order_by(
            AuditEntry.occurred_at, AuditEntry.id
        ).limit(limit).output(load_json=True)
        if not rows:
            return 0
        head = await _head_or_new(config)
        frontier, hasher = head.frontier, head.frontier.hasher
        ids, seqs, hashes = [], [], []
        for row in rows:
            seq = frontier.size + 1
            leaf = hasher.leaf(entry_line(entry_record(row, seq)))
            frontier.append(leaf)
            ids.append(row["id"])
            seqs.append(seq)
            hashes.append(leaf.hex())
        await _set_places(ids, seqs, hashes)
        await _save_head(head, utc_now())
    return len(rows)


async def seal_pending(config: AuditConfig, *, wait: bool = False, most: int | None = None) -> int:
    """Seal the committed entries not sealed yet (up to `most`); how many were sealed. Without `wait`,
    gives up at once if another process is sealing."""
    sealed = 0
    while most is None or sealed < most:
        limit = SEAL_BATCH if most is None else min(SEAL_BATCH, most - sealed)
        done = await _seal_batch(config, wait=wait, limit=limit)
        if done is None:
            break
        sealed += done
        if done < limit:
            break
    return sealed


def _stored(row: dict[str, Any]) -> StoredCheckpoint:
    return StoredCheckpoint(
        size=int(row["size"]), root=bytes.fromhex(row["root_hash"]), signed_at=row["signed_at"], note=row["note"],
        key_id=row["key_id"],
    )


async def latest_checkpoint() -> StoredCheckpoint | None:
    row = await AuditCheckpoint.select().order_by(AuditCheckpoint.size, AuditCheckpoint.signed_at, ascending=False).first()
    return _stored(row) if row is not None else None


async def checkpoints_between(low: int, high: int) -> list[StoredCheckpoint]:
    """The earliest checkpoint of each size from `low` to `high`."""
    rows = await AuditCheckpoint.select().where((AuditCheckpoint.size >= low) & (AuditCheckpoint.size <= high)).order_by(
        AuditCheckpoint.size, AuditCheckpoint.signed_at
    )
    earliest: dict[int, StoredCheckpoint] = {}
    for row in rows:
        earliest.setdefault(int(row["size"]), _stored(row))
    return list(earliest.values())


def signing_key(config: AuditConfig) -> SigningKey:
    """The key ring's signing key (the key ring is created, 0600, if there is none)."""
    try:
        return ensure_signing_key(config.keyring_path).signing_key()
    except KeyRingError as exc:
        raise Unavailable(str(exc), code="keyring_unavailable") from None


def _due(head: LogHead, latest: StoredCheckpoint | None, now: datetime) -> bool:
    if latest is None:
        return head.size > 0
    return head.size > latest.size and now - latest.signed_at >= CHECKPOINT_EVERY


async def sign_head(
    config: AuditConfig, reason: CheckpointReason, *, key: SigningKey, now: datetime | None = None, only_if_due: bool = False
) -> StoredCheckpoint | None:
    """Sign a checkpoint of the log as it is (the log starts if it has not yet). With `only_if_due`, only
    when entries were sealed since the last one and that is CHECKPOINT_EVERY old; None otherwise."""
    now = (now or utc_now()).replace(microsecond=0)
    async with write_transaction():
        await _take_lock(wait=True)
        head = await _head_or_new(config)
        latest = await latest_checkpoint()
        if only_if_due and not _due(head, latest, now):
            return None
        public_hex = key.public_raw.hex()
        if head.public_key and head.public_key != public_hex:
            raise Unavailable(
                f"the key ring {config.keyring_path} holds a different signing key ({key.id}) from the one this "
                "audit log was signed with: copy the key ring from the host that first signed it",
                code="audit_key_mismatch",
            )
        if not head.public_key:
            await AuditLog.update({AuditLog.public_key: public_hex}).where(AuditLog.id == head.row_id)
        checkpoint = Checkpoint(
            origin=head.origin, size=head.size, root=head.frontier.root(), signed_at=now, hash_name=head.hash_name
        )
        note = sign_checkpoint(checkpoint, key.sign, key.public_raw)
        await AuditCheckpoint.insert(
            AuditCheckpoint(
                id=uuid4(), size=checkpoint.size, root_hash=checkpoint.root.hex(), signed_at=now, key_id=key.id, reason=reason,
                note=note,
            )
        )
    # The application log is a second witness outside the database: operators ship it elsewhere.
    _log.info("audit_checkpoint", size=checkpoint.size, root=checkpoint.root.hex(), key_id=key.id, reason=reason)
    return StoredCheckpoint(size=checkpoint.size, root=checkpoint.root, signed_at=now, note=note, key_id=key.id)


async def seal_and_checkpoint(now: datetime) -> int:
    """The sweeper's step: seal what was committed, and sign a checkpoint when one is due. Entries sealed."""
    config = configured()
    if config is None:
        return 0
    sealed = await seal_pending(config, most=SEAL_PER_PASS)
    head = await read_head()
    if head is not None and _due(head, await latest_checkpoint(), now.replace(microsecond=0)):
        await sign_head(config, "periodic", key=signing_key(config), now=now, only_if_due=True)
    return sealed
