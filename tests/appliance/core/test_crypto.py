"""Sealed values: AES-256-GCM and SM4-GCM round trips, the versioned header, associated data binding table,
column and row, tampering refused, values readable after a suite switch and after a key rotation, and the
blind indexes (keyed, per field and purpose, truncated)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from appliance.core.crypto import SealError, configure_field_encryption, field_crypto, is_sealed, parse_header
from appliance.core.crypto.cipher import MAGIC, VERSION
from appliance.core.crypto.registry import name_key
from appliance.core.keyring import add_data_key, load_keyring

AAD = ("customer", "name", "5f0c6a9e-0000-4000-8000-000000000001")


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "keyring.json"


def use(keyring_path: Path, suite: str) -> None:
    configure_field_encryption(keyring_path, suite)  # type: ignore[arg-type]


@pytest.mark.parametrize("suite, algorithm_byte", [("aes-256-gcm", 1), ("sm4-gcm", 2)])
def test_a_value_round_trips_with_its_algorithm_and_key_in_the_header(keyring_path: Path, suite: str, algorithm_byte: int) -> None:
    use(keyring_path, suite)
    crypto = field_crypto()

    sealed = crypto.seal_bytes(*AAD, "韩梅梅".encode())
    raw = base64.b64decode(sealed)
    header = parse_header(sealed)

    assert crypto.open_bytes(*AAD, sealed).decode() == "韩梅梅"
    assert raw[:2] == MAGIC and raw[2] == VERSION and raw[3] == algorithm_byte
    assert (header.algorithm, header.key_id) == (suite, crypto.current_key().id)
    assert len(raw) == 8 + 12 + len("韩梅梅".encode()) + 16  # header, nonce, ciphertext, tag
    assert "韩梅梅".encode() not in raw and is_sealed(sealed) and not is_sealed("韩梅梅")
    assert crypto.seal_bytes(*AAD, "韩梅梅".encode()) != sealed  # a fresh nonce each time


def test_sm4_gcm_is_the_rfc_8998_algorithm() -> None:
    """RFC 8998 appendix A.1 through the same primitive the SM4 suite uses."""
    key, iv = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF"
        "EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()

    assert ciphertext.hex().startswith("17f399f08c67d5ee19d0dc9969c4bb7d")
    assert encryptor.tag.hex() == "83de3541e4c2b58177e065a9bf7b62ec"


@pytest.mark.parametrize("suite", ["aes-256-gcm", "sm4-gcm"])
def test_a_value_moved_to_another_row_column_or_table_does_not_open(keyring_path: Path, suite: str) -> None:
    use(keyring_path, suite)
    crypto = field_crypto()
    sealed = crypto.seal_bytes(*AAD, b"+8613900000001")

    for table, column, row in [
        ("customer", "name", "5f0c6a9e-0000-4000-8000-000000000002"),  # another customer
        ("customer", "email", AAD[2]),  # another column
        ("customer_note", "name", AAD[2]),  # another table
    ]:
        with pytest.raises(SealError, match="fails authentication"):
            crypto.open_bytes(table, column, row, sealed)


@pytest.mark.parametrize("suite", ["aes-256-gcm", "sm4-gcm"])
def test_a_tampered_value_or_header_does_not_open(keyring_path: Path, suite: str) -> None:
    use(keyring_path, suite)
    crypto = field_crypto()
    raw = bytearray(base64.b64decode(crypto.seal_bytes(*AAD, b"secret")))

    for index in (len(raw) - 1, 20, 8):  # the tag, the ciphertext, the nonce
        altered = bytearray(raw)
        altered[index] ^= 1
        with pytest.raises(SealError):
            crypto.open_bytes(*AAD, base64.b64encode(bytes(altered)).decode())
    other_key = bytearray(raw)
    other_key[4:8] = b"\0\0\0\0"
    with pytest.raises(SealError, match="does not hold"):
        crypto.open_bytes(*AAD, base64.b64encode(bytes(other_key)).decode())
    with pytest.raises(SealError, match="not a sealed value"):
        parse_header("RkU=")
    unknown_version = bytearray(raw)
    unknown_version[2] = 9
    with pytest.raises(SealError, match="format version 9"):
        parse_header(base64.b64encode(bytes(unknown_version)).decode())


def test_values_sealed_before_a_suite_switch_still_open(keyring_path: Path) -> None:
    use(keyring_path, "aes-256-gcm")
    before = field_crypto().seal_bytes(*AAD, b"aes")
    use(keyring_path, "sm4-gcm")
    crypto = field_crypto()
    after = crypto.seal_bytes(*AAD, b"sm4")

    assert (parse_header(before).algorithm, parse_header(after).algorithm) == ("aes-256-gcm", "sm4-gcm")
    assert crypto.open_bytes(*AAD, before) == b"aes" and crypto.open_bytes(*AAD, after) == b"sm4"
    assert not crypto.is_current(before) and crypto.is_current(after)


def test_values_sealed_with_an_older_key_open_after_a_rotation(keyring_path: Path) -> None:
    use(keyring_path, "aes-256-gcm")
    crypto = field_crypto()
    old = crypto.seal_bytes(*AAD, b"old")
    first = crypto.current_key().id

    add_data_key(keyring_path)  # as `appliance keys rotate` in another process would
    crypto.keyring(fresh=True)
    new = crypto.seal_bytes(*AAD, b"new")

    assert parse_header(old).key_id == first != parse_header(new).key_id == crypto.current_key().id
    assert crypto.open_bytes(*AAD, old) == b"old" and crypto.open_bytes(*AAD, new) == b"new"
    assert [k.id for k in load_keyring(keyring_path).data_keys] == [first, crypto.current_key().id]


def test_a_process_notices_a_key_added_elsewhere_when_a_value_names_it(keyring_path: Path) -> None:
    use(keyring_path, "aes-256-gcm")
    reader = field_crypto()
    reader.seal_bytes(*AAD, b"warm up")  # the key ring is loaded and cached
    configure_field_encryption(keyring_path, "sm4-gcm")  # another process, in effect
    writer = field_crypto()
    add_data_key(keyring_path)
    sealed = writer.seal_bytes(*AAD, b"under the new key")

    assert reader.open_bytes(*AAD, sealed) == b"under the new key"


def test_blind_indexes_are_keyed_per_field_and_purpose_and_truncated(keyring_path: Path, tmp_path: Path) -> None:
    use(keyring_path, "aes-256-gcm")
    crypto = field_crypto()

    phone = crypto.blind_index("customer", "phone", "exact", "+8613900000001")
    last4 = crypto.blind_index("customer", "phone", "last4", "0001")

    assert len(phone) == 32 and int(phone, 16) >= 0  # 16 bytes, hex
    assert phone == crypto.blind_index("customer", "phone", "exact", "+8613900000001")  # deterministic
    assert last4 != crypto.blind_index("customer", "email", "exact", "0001")  # per field
    assert last4 != crypto.blind_index("customer", "phone", "exact", "0001")  # per purpose
    assert crypto.blind_index("customer", "name", "exact", name_key("  Lily   WANG") or "") == crypto.blind_index(
        "customer", "name", "exact", name_key("lily wang") or ""
    )
    use(tmp_path / "other.json", "aes-256-gcm")  # another appliance's key: nothing in common
    assert field_crypto().blind_index("customer", "phone", "exact", "+8613900000001") != phone
    # The blind-index key is apart from the data keys and survives a rotation.
    use(keyring_path, "aes-256-gcm")
    add_data_key(keyring_path)
    assert field_crypto().blind_index("customer", "phone", "exact", "+8613900000001") == phone
    assert json.loads(keyring_path.read_text())["field_encryption"]["blind_index_key"]["id"]
