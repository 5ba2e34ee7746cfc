"""Audit entries, the sealed log's head, its signed checkpoints and its archives.

Values of personal fields never appear in an entry: only their names. Entries, checkpoints and archive
records are append-only, enforced by database triggers (migration 2026-11-26T17:32:00): an entry's
content never changes, `seq` and `leaf_hash` are set once by the sealer, and an entry is deleted only
once an archive record covers it.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Text, Timestamptz, Varchar
from piccolo.table import Table


class AuditEntry(Table):
    id = UUID(primary_key=True)
    occurred_at = Timestamptz(index=True)
    actor_kind = Varchar(length=16)  # user | api_token | system | plugin | anonymous
    actor_id = Varchar(length=64, null=True, default=None, index=True)
    actor_label = Varchar(length=150, default="")
    auth_method = Varchar(length=16, default="")  # password | sso | token | cli | system
    ip = Varchar(length=45, null=True, default=None)
    request_id = Varchar(length=64, null=True, default=None)
    action = Varchar(length=64, index=True)
    target_type = Varchar(length=32, default="")
    target_id = Varchar(length=64, null=True, default=None, index=True)
    result = Varchar(length=16, default="success")  # success | failure | denied
    reason = Text(default="")
    changed_fields = JSON(default=[])
    details = JSON(default={})
    # Set by the sealer, once: the entry's place in the log (1, 2, …, gap-free) and its Merkle leaf hash.
    seq = BigInt(null=True, default=None)  # unique: an index of the raw migration (SQLite cannot add a UNIQUE column)
    leaf_hash = Varchar(length=64, null=True, default=None)


class AuditLog(Table):
    """The head of the sealed log (one row): its identity, hash, size and Merkle frontier."""

    id = UUID(primary_key=True)
    log_id = Varchar(length=32, unique=True)
    origin = Varchar(length=255)  # the checkpoints' first line and the signing key's name
    hash_name = Varchar(length=16)  # sha256 | sm3, fixed when the log starts
    size = BigInt(default=0)  # entries sealed: seq 1..size
    frontier = JSON(default=[])  # hex roots of the perfect subtrees covering 1..size, largest first
    public_key = Varchar(length=64, default="")  # hex raw Ed25519 key of the first checkpoint; others refused
    created_at = Timestamptz()
    sealed_at = Timestamptz(null=True, default=None)


class AuditCheckpoint(Table):
    """A signed tree head: the log's size and root at a moment, as a C2SP signed note."""

    id = UUID(primary_key=True)
    size = BigInt(index=True)
    root_hash = Varchar(length=64)
    signed_at = Timestamptz(index=True)
    key_id = Varchar(length=16)  # the key ring's id of the signing key
    reason = Varchar(length=16)  # periodic | export | archive
    note = Text()


class AuditArchive(Table):
    """Entries first_seq..last_seq moved out of the database into a verifiable bundle file."""

    first_seq = BigInt(primary_key=True)  # archives follow one another: a full export keeps them in order
    last_seq = BigInt(unique=True)
    entries = BigInt()
    file_name = Varchar(length=255)
    sha256 = Varchar(length=64)
    tree_size = BigInt()  # the size of the checkpoint inside the bundle
    frontier = JSON(default=[])  # the tree of 1..last_seq, so later bundles can start after it
    created_at = Timestamptz()
