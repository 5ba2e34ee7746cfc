"""Passphrase encryption of an export archive, streamed in constant memory.

Format (documented in docs/compliance.md): a magic line, a JSON header line (scrypt parameters and salt,
a random nonce prefix, the chunk size), then frames of `4-byte big-endian length + AES-256-GCM ciphertext`.
Each chunk's nonce is the prefix, the chunk's number and a last-chunk flag (the STREAM construction), and
the header is every chunk's associated data: a reordered, dropped, truncated or altered chunk, or an edited
header, fails to decrypt."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"BOOKING-APPLIANCE-SEALED/1\n"
CHUNK = 64 * 1024
SCRYPT = {"n": 2**15, "r": 8, "p": 1}  # about 32 MiB and a tenth of a second per derivation
_PREFIX = 7
MIN_PASSPHRASE = 12


class SealError(ValueError):
    """A wrong passphrase, or an archive altered or cut short."""


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> AESGCM:
    return AESGCM(Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8")))


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    return prefix + number.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def check_passphrase(passphrase: str) -> str | None:
    """Why a passphrase is too weak to seal with, or None."""
    if len(passphrase) < MIN_PASSPHRASE:
        return f"at least {MIN_PASSPHRASE} characters"
    return None


class SealingWriter:
    """Takes plaintext through `write`, hands frames to `out`; `close` seals the last chunk."""

    def __init__(self, passphrase: str, out: Callable[[bytes], object]) -> None:
        salt, self._prefix = os.urandom(16), os.urandom(_PREFIX)
        header = {
            "kdf": "scrypt", **SCRYPT, "salt": base64.b64encode(salt).decode(), "cipher": "AES-256-GCM",
            "nonce_prefix": base64.b64encode(self._prefix).decode(), "chunk": CHUNK,
        }
        self._header = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n"
        self._aead = _key(passphrase, salt, **SCRYPT)
        self._out, self._pending, self._number = out, bytearray(), 0
        out(self._header)

    def write(self, data: bytes) -> int:
        self._pending += data
        while len(self._pending) > CHUNK:  # keep at least one byte back: the last chunk is sealed apart
            self._frame(bytes(self._pending[:CHUNK]), last=False)
            del self._pending[:CHUNK]
        return len(data)

    def close(self) -> None:
        self._frame(bytes(self._pending), last=True)
        self._pending.clear()

    def _frame(self, chunk: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._number, last), chunk, self._header)
        self._out(len(sealed).to_bytes(4, "big") + sealed)
        self._number += 1


def is_sealed(start: bytes) -> bool:
    return start.startswith(MAGIC)


def unseal(source: BinaryIO, passphrase: str) -> Iterator[bytes]:
    """The plaintext chunks of a sealed archive, each checked before it is given out."""
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise SealError("not a sealed archive")
    line = source.readline(4096)
    try:
        header = json.loads(line)
        aead = _key(passphrase, base64.b64decode(header["salt"]), int(header["n"]), int(header["r"]), int(header["p"]))
        prefix, chunk = base64.b64decode(header["nonce_prefix"]), int(header["chunk"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SealError("the archive's header is damaged") from exc
    associated = magic + line
    frame = _read_frame(source, chunk)
    number = 0
    while frame is not None:
        following = _read_frame(source, chunk)
        try:
            yield aead.decrypt(_nonce(prefix, number, following is None), frame, associated)
        except InvalidTag:
            raise SealError("wrong passphrase, or the archive was altered or cut short") from None
        frame, number = following, number + 1
    if number == 0:
        raise SealError("the archive is cut short")


def _read_frame(source: BinaryIO, chunk: int) -> bytes | None:
    length = source.read(4)
    if not length:
        return None
    size = int.from_bytes(length, "big")
    if len(length) < 4 or size > chunk + 16:
        raise SealError("the archive is damaged")
    frame = source.read(size)
    if len(frame) < size:
        raise SealError("the archive is cut short")
    return frame
