"""This process's field encryption: the key ring's keys, the suite that seals, sealing and opening bytes
bound to (table, column, row id), and blind indexes. Typed values per column: `registry`.

`open_database` configures it (the app, the worker, the CLI and tests all open the database). The key
ring is read on first use and created then (0600, with its signing key) when there is none, so a fresh
embedded appliance needs no step. The file is looked at again at most every RELOAD_SECONDS, and at once
when a value names a key this process does not know: `appliance keys rotate` in another process adds a
key, and every process starts sealing with it within seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.core.crypto.cipher import SealError, Suite, algorithm_key, open_sealed, parse_header, seal
from appliance.core.keyring import KeyRing, KeyRingError, SecretKey, ensure_field_keys

RELOAD_SECONDS: Final = 2.0
BLIND_INDEX_BYTES: Final = 16  # 128 bits, shown as 32 hex digits


@dataclass(frozen=True)
class _Loaded:
    keyring: KeyRing
    mtime_ns: int


class FieldCrypto:
    def __init__(self, keyring_path: Path, suite: Suite) -> None:
        self.keyring_path = keyring_path
        self.suite = suite
        self._loaded: _Loaded | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._algorithm_keys: dict[tuple[str, Suite], bytes] = {}
        self._index_keys: dict[tuple[str, str], bytes] = {}

    # --- Keys -------------------------------------------------------------------------------------------

    def keyring(self, *, fresh: bool = False) -> KeyRing:
        now = time.monotonic()
        with self._lock:
            if self._loaded is None or fresh or now - self._checked_at >= RELOAD_SECONDS:
                self._checked_at = now
                try:
                    mtime = self.keyring_path.stat().st_mtime_ns
                except FileNotFoundError:
                    mtime = -1
                if self._loaded is None or mtime != self._loaded.mtime_ns:
                    # Creates the key ring, or the keys it lacks; otherwise only reads it.
                    keyring = ensure_field_keys(self.keyring_path)
                    self._loaded = _Loaded(keyring, self.keyring_path.stat().st_mtime_ns)
            return self._loaded.keyring

    def current_key(self) -> SecretKey:
        return self.keyring().data_key()

    def _key(self, key_id: str) -> SecretKey:
        for fresh in (False, True):
            for key in self.keyring(fresh=fresh).data_keys:
                if key.id == key_id:
                    return key
        raise SealError(f"sealed with key {key_id}, which the key ring {self.keyring_path} does not hold")

    def _algorithm_key(self, key: SecretKey, suite: Suite) -> bytes:
        found = self._algorithm_keys.get((key.id, suite))
        if found is None:
            found = self._algorithm_keys[(key.id, suite)] = algorithm_key(key.key, suite)
        return found

    # --- Values -------------------------------------------------------------------------------------------

    def seal_bytes(self, table: str, column: str, row_id: object, plaintext: bytes) -> str:
        key = self.current_key()
        return seal(
            plaintext, suite=self.suite, key_id=key.id, key=self._algorithm_key(key, self.suite),
            aad=(table, column, str(row_id)),
        )

    def open_bytes(self, table: str, column: str, row_id: object, sealed: str) -> bytes:
        header = parse_header(sealed)
        key = self._key(header.key_id)
        return open_sealed(sealed, key=self._algorithm_key(key, header.algorithm), aad=(table, column, str(row_id)))

    def is_current(self, sealed: str) -> bool:
        """Sealed with the key and suite that seal now (else rotation re-seals it)."""
        header = parse_header(sealed)
        return header.key_id == self.current_key().id and header.algorithm == self.suite

    # --- Blind indexes -----------------------------------------------------------------------------------

    def blind_index(self, table: str, column: str, purpose: str, normalised: str) -> str:
        """HMAC-SHA256 under a key of its own for (table, column, purpose), derived from the key ring's
        blind-index key, truncated to BLIND_INDEX_BYTES: equal values give equal indexes, nothing else
        can be learnt or computed without the key. The index written now."""
        return self._index(self._blind_index_roots()[0], f"{table}.{column}:{purpose}", normalised)

    def blind_indexes(self, table: str, column: str, purpose: str, normalised: str) -> list[str]:
        """What a lookup compares with: the index under the current blind-index key and, while a rotation
        rebuilds them, under the previous ones (rows not rebuilt yet hold those)."""
        name = f"{table}.{column}:{purpose}"
        return [self._index(root, name, normalised) for root in self._blind_index_roots()]

    def _blind_index_roots(self) -> tuple[SecretKey, ...]:
        keyring = self.keyring()
        if keyring.blind_index_key is None:  # pragma: no cover - keyring() adds one
            raise KeyRingError(f"the key ring {self.keyring_path} holds no blind-index key")
        return (keyring.blind_index_key, *keyring.previous_blind_index_keys)

    def _index(self, root: SecretKey, name: str, normalised: str) -> str:
        key = self._index_keys.get((root.id, name))
        if key is None:
            key = self._index_keys[(root.id, name)] = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=f"appliance blind index {name}".encode()
            ).derive(root.key)
        return hmac.new(key, normalised.encode(), hashlib.sha256).digest()[:BLIND_INDEX_BYTES].hex()


_current: FieldCrypto | None = None


def configure_field_encryption(keyring_path: Path, suite: Suite) -> None:
    """Called by `open_database`: the key ring and suite of this process (read on first use)."""
    global _current
    if _current is None or _current.keyring_path != keyring_path or _current.suite != suite:
        _current = FieldCrypto(keyring_path, suite)


def field_crypto() -> FieldCrypto:
    if _current is None:
        raise KeyRingError("field encryption is not configured in this process (open the database first)")
    return _current


# --- Helpers for values outside the registry's tables (None stays None) ------------------------------------


def seal_json(table: str, column: str, row_id: object, value: Any) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return field_crypto().seal_bytes(table, column, row_id, text.encode())


def open_json(table: str, column: str, row_id: object, stored: str | None) -> Any:
    return None if stored is None else json.loads(field_crypto().open_bytes(table, column, row_id, stored))


def blind_index(table: str, column: str, purpose: str, normalised: str | None) -> str | None:
    return None if normalised is None else field_crypto().blind_index(table, column, purpose, normalised)


def blind_indexes(table: str, column: str, purpose: str, normalised: str | None) -> list[str]:
    return [] if normalised is None else field_crypto().blind_indexes(table, column, purpose, normalised)
