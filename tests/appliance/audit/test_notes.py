"""Checkpoints as C2SP signed notes: they round-trip, and any change or another key is refused."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.audit.notes import Checkpoint, NoteError, note_key_id, open_checkpoint, sign_checkpoint, verifier_key
from appliance.core.keyring import ensure_signing_key

ORIGIN = "booking.example.com/audit/3f2a9c1e0b7d4e21"


def checkpoint() -> Checkpoint:
    return Checkpoint(
        origin=ORIGIN, size=1500, root=hashlib.sha256(b"root").digest(),
        signed_at=datetime(2026, 11, 26, 12, 5, tzinfo=UTC), hash_name="sm3",
    )


def test_a_signed_checkpoint_reads_back_and_follows_the_c2sp_layout(tmp_path: Path) -> None:
    key = ensure_signing_key(tmp_path / "keyring.json").signing_key()

    note = sign_checkpoint(checkpoint(), key.sign, key.public_raw)

    assert open_checkpoint(note, key.public_raw) == checkpoint()
    text, signature_line = note.split("\n\n")
    assert text.split("\n")[:3] == [ORIGIN, "1500", base64.b64encode(hashlib.sha256(b"root").digest()).decode()]
    assert signature_line.startswith(f"\u2014 {ORIGIN} ")
    signature = base64.b64decode(signature_line.split(" ")[-1])
    assert signature[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + key.public_raw).digest()[:4]
    assert signature[:4] == note_key_id(ORIGIN, key.public_raw)
    assert verifier_key(ORIGIN, key.public_raw).startswith(f"{ORIGIN}+{signature[:4].hex()}+")


def test_an_altered_size_or_another_key_is_refused(tmp_path: Path) -> None:
    key = ensure_signing_key(tmp_path / "a.json").signing_key()
    other = ensure_signing_key(tmp_path / "b.json").signing_key()
    note = sign_checkpoint(checkpoint(), key.sign, key.public_raw)

    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(note.replace("\n1500\n", "\n1499\n"), key.public_raw)
    with pytest.raises(NoteError, match="no signature by this key"):
        open_checkpoint(note, other.public_raw)
    with pytest.raises(NoteError):
        open_checkpoint("not a note", key.public_raw)
