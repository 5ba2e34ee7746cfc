"""The key ring: the appliance's secret keys, in one JSON file outside the database, readable by its owner only.

It holds the Ed25519 keys that sign the audit log's checkpoints and the keys of field encryption
(`appliance.core.crypto`). The format is versioned and sectioned: sections this code does not know are
kept as they are whenever the file is rewritten.

    {"format": 1,
     "signing_keys": [{"id": "…", "algorithm": "ed25519", "created_at": "…Z", "private_key": "<base64>"}],
     "field_encryption": {
        "data_keys": [{"id": "<8 hex digits>", "created_at": "…Z", "key": "<base64 of 32 bytes>"}],
        "blind_index_key": {"id": "<8 hex digits>", "created_at": "…Z", "key": "<base64 of 32 bytes>"},
        "previous_blind_index_keys": [<as blind_index_key>, …]}}   (only while a blind-index rotation runs)

The newest signing key signs; older ones stay so that what they signed can still be checked. Likewise
the newest data key seals; older ones stay so that what they sealed can still be opened (until
`appliance keys rotate` has re-sealed everything under the newest). The blind-index key is separate and
rotates on its own (`appliance keys rotate --blind-index`): while the indexes are rebuilt under the new
one, the previous ones are kept so that lookups find rows not rebuilt yet, and they are removed at the end.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = 1
SIGNING_SECTION = "signing_keys"
FIELD_SECTION = "field_encryption"


class KeyRingError(Exception):
    """The key ring cannot be used; the message says what to do about it."""


def public_key_id(public_raw: bytes) -> str:
    """A key's short, stable name: the first 16 hex digits of the SHA-256 of its raw public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_key_fingerprint(public_raw: bytes) -> str:
    """What people compare: the whole SHA-256 of the raw public key, in groups of four hex digits."""
    digest = hashlib.sha256(public_raw).hexdigest()
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def public_key_pem(public_raw: bytes) -> bytes:
    return Ed25519PublicKey.from_public_bytes(public_raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_pem(pem: bytes) -> bytes:
    """The raw 32 bytes of an Ed25519 public key given as PEM; ValueError if it is not one."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    id: str
    created_at: datetime
    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


@dataclass(frozen=True)
class SecretKey:
    """A field-encryption key: a data key (seals personal data) or the blind-index key."""

    id: str  # 8 hex digits: the 4 bytes every ciphertext's header names
    created_at: datetime
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyRing:
    path: Path
    signing_keys: tuple[SigningKey, ...]
    # Every section as read, known or not, so a rewrite loses nothing.
    sections: dict[str, Any] = field(repr=False)
    data_keys: tuple[SecretKey, ...] = ()
    blind_index_key: SecretKey | None = None  # computes the indexes written now
    # Keys some stored indexes may still be computed with: a blind-index rotation is under way.
    previous_blind_index_keys: tuple[SecretKey, ...] = ()

    def signing_key(self) -> SigningKey:
        """The key that signs now: the newest."""
        if not self.signing_keys:
            raise KeyRingError(f"the key ring {self.path} holds no signing key")
        return self.signing_keys[-1]

    def data_key(self) -> SecretKey:
        """The data key that seals now: the newest."""
        if not self.data_keys:
            raise KeyRingError(f"the key ring {self.path} holds no field-encryption key: run `appliance keys init`")
        return self.data_keys[-1]


def _new_signing_key(now: datetime) -> tuple[SigningKey, dict[str, str]]:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = SigningKey(id=public_key_id(public_raw), created_at=now, private_key=private)
    record = {
        "id": key.id, "algorithm": "ed25519", "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "private_key": base64.b64encode(raw).decode(),
    }
    return key, record


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_secret(now: datetime, taken: set[str] = frozenset()) -> dict[str, str]:  # type: ignore[assignment]
    while (key_id := os.urandom(4).hex()) in taken:
        pass
    return {"id": key_id, "created_at": _stamp(now), "key": base64.b64encode(os.urandom(32)).decode()}


def _secret(path: Path, what: str, record: Any) -> SecretKey:
    try:
        key = base64.b64decode(record["key"], validate=True)
        key_id = str(record["id"])
        if len(key) != 32:
            raise ValueError(f"{len(key)} bytes, not 32")
        if len(key_id) != 8 or int(key_id, 16) < 0:
            raise ValueError(f"id {key_id!r} is not 8 hex digits")
        return SecretKey(id=key_id, created_at=datetime.fromisoformat(record["created_at"]), key=key)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise KeyRingError(f"the key ring {path}: {what} is damaged ({exc})") from None


def _field_keys(
    path: Path, section: Any
) -> tuple[tuple[SecretKey, ...], SecretKey | None, tuple[SecretKey, ...]]:
    if section is None:
        return (), None, ()
    if not isinstance(section, dict):
        raise KeyRingError(f"the key ring {path}: its {FIELD_SECTION} section is damaged")
    keys = tuple(_secret(path, f"data key {n}", r) for n, r in enumerate(section.get("data_keys", []), start=1))
    if len({k.id for k in keys}) != len(keys):
        raise KeyRingError(f"the key ring {path}: two data keys have the same id")
    blind = section.get("blind_index_key")
    previous = tuple(
        _secret(path, f"previous blind-index key {n}", r)
        for n, r in enumerate(section.get("previous_blind_index_keys", []), start=1)
    )
    return keys, _secret(path, "the blind-index key", blind) if blind is not None else None, previous


def _parse(path: Path, text: str) -> KeyRing:
    try:
        sections = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyRingError(f"the key ring {path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(sections, dict) or sections.get("format") != FORMAT:
        raise KeyRingError(f"the key ring {path} is not a format-{FORMAT} key ring")
    keys = []
    for number, record in enumerate(sections.get(SIGNING_SECTION, []), start=1):
        try:
            if record["algorithm"] != "ed25519":
                raise ValueError(f"unknown algorithm {record['algorithm']!r}")
            private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(record["private_key"], validate=True))
            created_at = datetime.fromisoformat(record["created_at"])
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise KeyRingError(f"the key ring {path}: signing key {number} is damaged ({exc})") from None
        key = SigningKey(id=str(record.get("id", "")), created_at=created_at, private_key=private)
        if key.id != public_key_id(key.public_raw):
            raise KeyRingError(f"the key ring {path}: signing key {number} does not match its id {key.id!r}")
        keys.append(key)
    data_keys, blind_index_key, previous_blind = _field_keys(path, sections.get(FIELD_SECTION))
    return KeyRing(
        path=path, signing_keys=tuple(keys), sections=sections, data_keys=data_keys, blind_index_key=blind_index_key,
        previous_blind_index_keys=previous_blind,
    )


def load_keyring(path: Path) -> KeyRing:
    """Read the key ring; refuse one that others than its owner may read or change."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyRingError(
                f"the key ring {path} is open to other users (mode {stat.S_IMODE(mode):04o}): run chmod 600 {path}"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyRingError(f"there is no key ring at {path}") from None
    except OSError as exc:
        raise KeyRingError(f"cannot read the key ring {path} ({exc.strerror})") from None
    return _parse(path, text)


def _write_new(path: Path, sections: dict[str, Any], *, replace: bool) -> None:
    """Write the file whole under a temporary name (0600 from the start), then put it in place: renamed
    over the old one, or linked only if no file exists yet, so two processes creating one at once keep
    the first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(sections, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # FileExistsError if another process was first
    finally:
        temporary.unlink(missing_ok=True)


def ensure_signing_key(path: Path, now: datetime | None = None) -> KeyRing:
    """The key ring at `path` with at least one signing key: created (0600) when there is no file, a key
    added when the file has none. Never replaces an existing key."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if not path.exists():
        _, record = _new_signing_key(now)
        try:
            _write_new(path, {"format": FORMAT, SIGNING_SECTION: [record]}, replace=False)
        except FileExistsError:
            pass  # another process created it meanwhile: use theirs
        except OSError as exc:
            raise KeyRingError(f"cannot create the key ring {path} ({exc.strerror})") from None
    keyring = load_keyring(path)
    if keyring.signing_keys:
        return keyring
    return add_signing_key(path, now)


def add_signing_key(path: Path, now: datetime | None = None) -> KeyRing:
    """Add a new signing key, which signs from now on; the older ones are kept."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    _, record = _new_signing_key(now)

    def change(sections: dict[str, Any]) -> dict[str, Any]:
        sections[SIGNING_SECTION] = [*sections.get(SIGNING_SECTION, []), record]
        return sections

    return _rewrite(path, change)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time changes the key ring (a lock file beside it): two processes adding keys at
    once would otherwise each write the file with only their own."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _rewrite(path: Path, change: Any) -> KeyRing:
    """Read, change and write the key ring under the lock; `change` returns None to leave it as it is."""
    with _locked(path):
        keyring = load_keyring(path)
        sections = change(dict(keyring.sections))
        if sections is None:
            return keyring
        try:
            _write_new(path, sections, replace=True)
        except OSError as exc:
            raise KeyRingError(f"cannot write the key ring {path} ({exc.strerror})") from None
    return load_keyring(path)


def _with_field_keys(sections: dict[str, Any], now: datetime, *, add_data_key: bool) -> dict[str, Any]:
    field_section = dict(sections.get(FIELD_SECTION) or {})
    data_keys = list(field_section.get("data_keys", []))
    taken = {str(r.get("id")) for r in data_keys}
    if add_data_key or not data_keys:
        data_keys.append(_new_secret(now, taken))
    field_section["data_keys"] = data_keys
    if field_section.get("blind_index_key") is None:
        field_section["blind_index_key"] = _new_secret(now, taken | {r["id"] for r in data_keys})
    sections[FIELD_SECTION] = field_section
    return sections


def create_keyring(path: Path, now: datetime | None = None) -> KeyRing:
    """A new key ring (0600) with a signing key, a data key and a blind-index key. Refuses (KeyRingError)
    when a file is already there: keys are never overwritten."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if path.exists():
        raise KeyRingError(f"there is a key ring at {path} already: it is never overwritten (see `appliance keys status`)")
    _, record = _new_signing_key(now)
    sections = _with_field_keys({"format": FORMAT, SIGNING_SECTION: [record]}, now, add_data_key=False)
    try:
        _write_new(path, sections, replace=False)
    except FileExistsError:
        raise KeyRingError(f"there is a key ring at {path} already: it is never overwritten") from None
    except OSError as exc:
        raise KeyRingError(f"cannot create the key ring {path} ({exc.strerror})") from None
    return load_keyring(path)


def ensure_field_keys(path: Path, now: datetime | None = None) -> KeyRing:
    """The key ring at `path` with a data key and a blind-index key: created whole (0600, with a signing
    key too) when there is no file, the missing keys added otherwise. Never replaces an existing key."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if not path.exists():
        _, record = _new_signing_key(now)
        sections = _with_field_keys({"format": FORMAT, SIGNING_SECTION: [record]}, now, add_data_key=False)
        try:
            _write_new(path, sections, replace=False)
        except FileExistsError:
            pass  # another process created it meanwhile: use theirs
        except OSError as exc:
            raise KeyRingError(f"cannot create the key ring {path} ({exc.strerror})") from None
    keyring = ensure_signing_key(path, now)
    if keyring.data_keys and keyring.blind_index_key is not None:
        return keyring

    def complete(sections: dict[str, Any]) -> dict[str, Any] | None:
        field_section = sections.get(FIELD_SECTION) or {}
        if field_section.get("data_keys") and field_section.get("blind_index_key"):
            return None  # another process added them meanwhile
        return _with_field_keys(sections, now, add_data_key=False)

    return _rewrite(path, complete)


def add_data_key(path: Path, now: datetime | None = None) -> KeyRing:
    """Add a new data key, which seals from now on; the older ones are kept to open what they sealed."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    ensure_field_keys(path, now)
    return _rewrite(path, lambda sections: _with_field_keys(sections, now, add_data_key=True))


def _taken_ids(field_section: dict[str, Any]) -> set[str]:
    records = [*field_section.get("data_keys", []), *field_section.get("previous_blind_index_keys", [])]
    if field_section.get("blind_index_key"):
        records.append(field_section["blind_index_key"])
    return {str(r.get("id")) for r in records}


def add_blind_index_key(path: Path, now: datetime | None = None) -> KeyRing:
    """Add a new blind-index key, which computes the indexes written from now on; the one it replaces is
    kept among the previous ones, for lookups, until `retire_blind_index_keys`."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    ensure_field_keys(path, now)

    def change(sections: dict[str, Any]) -> dict[str, Any]:
        field_section = dict(sections[FIELD_SECTION])
        field_section["previous_blind_index_keys"] = [
            *field_section.get("previous_blind_index_keys", []), field_section["blind_index_key"]
        ]
        field_section["blind_index_key"] = _new_secret(now, _taken_ids(field_section))
        sections[FIELD_SECTION] = field_section
        return sections

    return _rewrite(path, change)


def retire_blind_index_keys(path: Path, current_id: str) -> KeyRing:
    """Remove the previous blind-index keys once every index is computed with the current one
    (`current_id`, checked under the lock: a rotation started meanwhile keeps them)."""

    def change(sections: dict[str, Any]) -> dict[str, Any] | None:
        field_section = dict(sections.get(FIELD_SECTION) or {})
        if (field_section.get("blind_index_key") or {}).get("id") != current_id:
            return None
        field_section.pop("previous_blind_index_keys", None)
        sections[FIELD_SECTION] = field_section
        return sections

    return _rewrite(path, change)
