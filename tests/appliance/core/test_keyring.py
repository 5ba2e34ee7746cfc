"""The key ring file: created readable by its owner only, never overwritten, refused when others may read
it, and sections it does not know kept when it is rewritten (field encryption will add its own)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from appliance.core.keyring import (
    KeyRingError, add_blind_index_key, add_data_key, add_signing_key, create_keyring, ensure_field_keys, ensure_signing_key,
    load_keyring, retire_blind_index_keys,
)


def test_a_missing_key_ring_is_created_0600_with_one_signing_key_that_signs(tmp_path: Path) -> None:
    path = tmp_path / "var" / "keyring.json"

    keyring = ensure_signing_key(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = keyring.signing_key()
    key.private_key.public_key().verify(key.sign(b"checkpoint"), b"checkpoint")
    assert json.loads(path.read_text())["format"] == 1


def test_an_existing_key_is_kept_and_unknown_sections_survive_a_new_key(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = ensure_signing_key(path).signing_key()
    sections = json.loads(path.read_text())
    sections["data_keys"] = [{"id": "k1", "algorithm": "aes-256-gcm"}]
    path.write_text(json.dumps(sections))

    again = ensure_signing_key(path).signing_key()
    rotated = add_signing_key(path)

    assert again.id == first.id
    assert [k.id for k in rotated.signing_keys] == [first.id, rotated.signing_key().id]
    assert rotated.signing_key().id != first.id
    assert json.loads(path.read_text())["data_keys"] == [{"id": "k1", "algorithm": "aes-256-gcm"}]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_key_ring_others_may_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ensure_signing_key(path)
    path.chmod(0o644)

    with pytest.raises(KeyRingError, match="chmod 600"):
        load_keyring(path)


def test_a_damaged_key_ring_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ensure_signing_key(path)
    sections = json.loads(path.read_text())
    sections["signing_keys"][0]["private_key"] = "not base64!"
    path.write_text(json.dumps(sections))

    with pytest.raises(KeyRingError, match="damaged"):
        ensure_signing_key(path)
    assert "not base64!" in path.read_text()


def test_init_creates_every_key_0600_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "var" / "keyring.json"

    created = create_keyring(path)
    before = path.read_bytes()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert created.signing_keys and len(created.data_keys) == 1 and created.blind_index_key is not None
    assert len(created.data_key().key) == 32 and created.data_key().id != created.blind_index_key.id
    with pytest.raises(KeyRingError, match="never overwritten"):
        create_keyring(path)
    assert path.read_bytes() == before


def test_field_keys_join_an_existing_signing_key_ring_and_unknown_sections_survive(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    signing = ensure_signing_key(path).signing_key()
    sections = json.loads(path.read_text())
    sections["hsm"] = {"slot": 3}
    path.write_text(json.dumps(sections))
    path.chmod(0o600)

    keyring = ensure_field_keys(path)
    same = ensure_field_keys(path)
    rotated = add_data_key(path)

    assert keyring.signing_key().id == signing.id and keyring.data_keys
    assert same.data_key().id == keyring.data_key().id  # never replaced
    assert [k.id for k in rotated.data_keys] == [keyring.data_key().id, rotated.data_key().id]
    assert rotated.blind_index_key == keyring.blind_index_key  # rotates on its own (below)
    assert json.loads(path.read_text())["hsm"] == {"slot": 3}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_data_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ensure_field_keys(path)
    sections = json.loads(path.read_text())
    sections["field_encryption"]["data_keys"][0]["key"] = "c2hvcnQ="
    path.write_text(json.dumps(sections))

    with pytest.raises(KeyRingError, match="data key 1 is damaged"):
        load_keyring(path)


def test_a_new_blind_index_key_keeps_the_previous_one_for_lookups_until_it_is_retired(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = ensure_field_keys(path)
    assert first.blind_index_key is not None and first.previous_blind_index_keys == ()

    rotating = add_blind_index_key(path)
    unchanged = retire_blind_index_keys(path, first.blind_index_key.id)  # not the current key: kept
    retired = retire_blind_index_keys(path, rotating.blind_index_key.id if rotating.blind_index_key else "")

    assert rotating.blind_index_key is not None and rotating.blind_index_key.id != first.blind_index_key.id
    assert rotating.previous_blind_index_keys == (first.blind_index_key,)
    assert rotating.data_keys == first.data_keys  # the data keys do not rotate with it
    assert unchanged.previous_blind_index_keys == (first.blind_index_key,)
    assert retired.blind_index_key == rotating.blind_index_key and retired.previous_blind_index_keys == ()
    assert "previous_blind_index_keys" not in json.loads(path.read_text())["field_encryption"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
