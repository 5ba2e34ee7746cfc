"""Sealing one value: authenticated encryption with a versioned header. Pure: no I/O, no settings.

A sealed value is the base64 (standard alphabet, padded) text of

    magic "FE" (2) ‖ version 1 (1) ‖ algorithm (1: AES-256-GCM, 2: SM4-GCM) ‖ key id (4) ‖ nonce (12) ‖ ciphertext ‖ tag (16)

The associated data is the 8-byte header followed by `table \\0 column \\0 row id`: a ciphertext moved to
another row, column or table, or given another header, does not open. The algorithm and key are named
in every value, so values sealed before a switch of suite (`APPLIANCE_CRYPTO_SUITE`) or a key rotation
still open. SM4-GCM (GB/T 32907, RFC 8998) goes through pyca's streaming `Cipher` API; AES-256-GCM
through `AESGCM`.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

Suite = Literal["aes-256-gcm", "sm4-gcm"]
MAGIC: Final = b"FE"
VERSION: Final = 1
ALGORITHMS: Final[dict[int, Suite]] = {1: "aes-256-gcm", 2: "sm4-gcm"}
ALGORITHM_IDS: Final[dict[Suite, int]] = {name: number for number, name in ALGORITHMS.items()}
HEADER_SIZE: Final = 8
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16


class SealError(Exception):
    """A value cannot be opened: not a sealed value, an unknown key, or it fails authentication."""


@dataclass(frozen=True)
class Header:
    version: int
    algorithm: Suite
    key_id: str  # 8 hex digits

    def packed(self) -> bytes:
        return MAGIC + bytes([self.version, ALGORITHM_IDS[self.algorithm]]) + bytes.fromhex(self.key_id)


def associated_data(header: bytes, table: str, column: str, row_id: object) -> bytes:
    return header + f"{table}\0{column}\0{row_id}".encode()


def algorithm_key(data_key: bytes, suite: Suite) -> bytes:
    """The key the algorithm uses, derived from a 32-byte data key (SM4 takes 128 bits)."""
    length = 32 if suite == "aes-256-gcm" else 16
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=f"appliance field encryption {suite}".encode()).derive(
        data_key
    )


def _decode(sealed: str) -> bytes:
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise SealError("not a sealed value") from None
    if len(raw) < HEADER_SIZE + NONCE_SIZE + TAG_SIZE or raw[:2] != MAGIC:
        raise SealError("not a sealed value")
    return raw


def parse_header(sealed: str) -> Header:
    """The header of a sealed value; SealError if it is not one this code knows."""
    raw = _decode(sealed)
    if raw[2] != VERSION:
        raise SealError(f"sealed with format version {raw[2]}, which this release does not know")
    if raw[3] not in ALGORITHMS:
        raise SealError(f"sealed with algorithm {raw[3]}, which this release does not know")
    return Header(version=raw[2], algorithm=ALGORITHMS[raw[3]], key_id=raw[4:8].hex())


def is_sealed(value: object) -> bool:
    """Whether a stored value is a sealed value (else: plaintext from before field encryption)."""
    if not isinstance(value, str):
        return False
    try:
        parse_header(value)
    except SealError:
        return False
    return True


def seal(plaintext: bytes, *, suite: Suite, key_id: str, key: bytes, aad: tuple[str, str, object]) -> str:
    """`key` is the algorithm key (`algorithm_key`); `aad` is (table, column, row id)."""
    header = Header(VERSION, suite, key_id).packed()
    nonce = os.urandom(NONCE_SIZE)
    data = associated_data(header, *aad)
    if suite == "aes-256-gcm":
        body = AESGCM(key).encrypt(nonce, plaintext, data)
    else:
        encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(data)
        body = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag
    return base64.b64encode(header + nonce + body).decode("ascii")


def open_sealed(sealed: str, *, key: bytes, aad: tuple[str, str, object]) -> bytes:
    """The plaintext of a value sealed with `key` (the algorithm key of the key its header names)."""
    header = parse_header(sealed)
    raw = _decode(sealed)
    nonce, body = raw[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE], raw[HEADER_SIZE + NONCE_SIZE :]
    data = associated_data(raw[:HEADER_SIZE], *aad)
    try:
        if header.algorithm == "aes-256-gcm":
            return AESGCM(key).decrypt(nonce, body, data)
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, body[-TAG_SIZE:])).decryptor()
        decryptor.authenticate_additional_data(data)
        return decryptor.update(body[:-TAG_SIZE]) + decryptor.finalize()
    except (InvalidTag, ValueError):
        raise SealError(
            f"a value of {aad[0]}.{aad[1]} (row {aad[2]}) fails authentication: altered, or moved from another row"
        ) from None
