"""Checkpoints as C2SP signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note): pure, no I/O.

    example.com/audit/3f2a9c1e0b7d4e21      origin: the log's name, also the signing key's name
    1500                                    tree size: entries 1..1500
    2Jd1…=                                  root hash, base64
    time 2026-11-26T12:05:00Z               extension lines: when it was signed, and the tree's hash
    hash sha256
                                            (blank line)
    — example.com/audit/3f2a9c1e0b7d4e21 <base64(key id ‖ Ed25519 signature of the text above)>

The key id is SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4], so any signed-note tool can check one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.audit.merkle import HASH_NAMES, HashName

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # em dash, space


class NoteError(Exception):
    """A checkpoint that is malformed, or not signed by the expected key."""


def note_key_id(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_raw).digest()[:4]


def verifier_key(name: str, public_raw: bytes) -> str:
    """The key as signed-note tools take it: `<name>+<key id hex>+<base64(0x01 ‖ public key)>`."""
    return f"{name}+{note_key_id(name, public_raw).hex()}+{base64.b64encode(ED25519 + public_raw).decode()}"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    signed_at: datetime
    hash_name: HashName

    def text(self) -> str:
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
            f"time {format_time(self.signed_at)}\nhash {self.hash_name}\n"
        )


def sign_checkpoint(checkpoint: Checkpoint, sign: Callable[[bytes], bytes], public_raw: bytes) -> str:
    """The checkpoint as a signed note, signed under the origin's name."""
    text = checkpoint.text()
    signature = note_key_id(checkpoint.origin, public_raw) + sign(text.encode())
    return f"{text}\n{SIGNATURE_PREFIX}{checkpoint.origin} {base64.b64encode(signature).decode()}\n"


def _parse_text(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]  # the text ends in a newline
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("a checkpoint has an origin, a size and a root hash, one per line")
    origin, size_line, root_line, *extensions = lines
    if not size_line.isdigit() or (size_line.startswith("0") and size_line != "0"):
        raise NoteError(f"the tree size {size_line!r} is not a decimal number")
    try:
        root = base64.b64decode(root_line, validate=True)
    except binascii.Error:
        raise NoteError("the root hash is not base64") from None
    if len(root) != 32:
        raise NoteError("the root hash is not 32 bytes")
    fields = dict(line.partition(" ")[::2] for line in extensions)
    try:
        signed_at = datetime.strptime(fields["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        raise NoteError("the checkpoint has no `time YYYY-MM-DDTHH:MM:SSZ` line") from None
    hash_name = fields.get("hash")
    if hash_name not in HASH_NAMES:
        raise NoteError(f"the checkpoint's hash {hash_name!r} is not one of {', '.join(HASH_NAMES)}")
    return Checkpoint(origin=origin, size=int(size_line), root=root, signed_at=signed_at, hash_name=hash_name)


def open_checkpoint(note: str, public_raw: bytes) -> Checkpoint:
    """The checkpoint in `note`, once a signature by `public_raw` under the origin's name verifies."""
    text, separator, signatures = note.rpartition("\n\n")
    if not separator:
        raise NoteError("not a signed note: no blank line before the signatures")
    text += "\n"
    checkpoint = _parse_text(text)
    key_id = note_key_id(checkpoint.origin, public_raw)
    public_key = Ed25519PublicKey.from_public_bytes(public_raw)
    for line in signatures.split("\n"):
        if not line:
            continue
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("not a signed note: a signature line must start with an em dash")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            signature = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError("a signature is not base64") from None
        if name != checkpoint.origin or signature[:4] != key_id:
            continue  # someone else's signature (a witness's, say): not ours to judge
        try:
            public_key.verify(signature[4:], text.encode())
        except InvalidSignature:
            raise NoteError("the signature does not verify: the checkpoint was altered or signed by another key") from None
        return checkpoint
    raise NoteError("the checkpoint carries no signature by this key")
