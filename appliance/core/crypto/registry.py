"""Which columns hold sealed values, what is inside them, and the blind indexes computed from them: what
exports open, restores seal again, `appliance keys rotate` re-seals, and the migration seals from
plaintext. A table that starts holding personal data adds its columns here."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from appliance.core.crypto.fields import blind_index, blind_indexes, field_crypto

Kind = Literal["text", "json", "date"]


@dataclass(frozen=True)
class BlindIndex:
    column: str  # the column holding it
    source: str  # the sealed column it is computed from
    purpose: str
    transform: Callable[[Any], str | None]  # the plaintext (as the application holds it) to the indexed text
    # The table whose key the index is computed under, when not its own: a column indexed like another
    # table's, so that one lookup value finds both (a customer's further phones, like the main one).
    keyed_as: str | None = None


def name_key(name: str | None) -> str | None:
    """A full name as the name index compares it: NFKC, case-folded, runs of spaces as one."""
    if name is None:
        return None
    key = " ".join(unicodedata.normalize("NFKC", name).split()).casefold()
    return key or None


def phone_last4_key(phone: str | None) -> str | None:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-4:] if len(digits) >= 4 else None


def email_key(email: str | None) -> str | None:
    return email.strip().lower() or None if email else None


def phone_key(phone: str | None) -> str | None:
    return phone or None


SEALED: Final[Mapping[str, Mapping[str, Kind]]] = {
    "customer": {
        "name": "text", "phone": "text", "email": "text", "gender": "text", "birthday": "date",
        "preferences": "json", "custom_fields": "json",
    },
    "customer_phone": {"phone": "text"},  # a customer's further phones
    "customer_note": {"body": "text"},
    "customer_interaction": {"note": "text"},
    "customer_merge": {"profile": "json"},  # profile values copied or overridden in a merge
    "booking": {"answers": "json", "notes": "text"},
    "inbox_item": {"body": "text"},  # staff notices name the customer
    "survey_answer": {"comment": "text"},
    # Secrets, sealed like personal data: a database copy without the key ring must not mint TOTP codes
    # or sign unsubscribe links.
    "app_user": {"totp_secret": "text"},
    "link_key": {"secret": "text"},
}

BLIND_INDEXES: Final[Mapping[str, tuple[BlindIndex, ...]]] = {
    "customer": (
        BlindIndex("name_bidx", "name", "exact", name_key),
        BlindIndex("phone_bidx", "phone", "exact", phone_key),
        BlindIndex("phone_last4_bidx", "phone", "last4", phone_last4_key),
        BlindIndex("email_bidx", "email", "exact", email_key),
    ),
    "customer_phone": (
        BlindIndex("phone_bidx", "phone", "exact", phone_key, keyed_as="customer"),
        BlindIndex("phone_last4_bidx", "phone", "last4", phone_last4_key, keyed_as="customer"),
    ),
}


def index_value(table: str, spec: BlindIndex, plaintext: Any) -> str | None:
    """The index to store: under the current blind-index key."""
    return blind_index(spec.keyed_as or table, spec.source, spec.purpose, spec.transform(plaintext))


def lookup_values(table: str, spec: BlindIndex, plaintext: Any) -> list[str]:
    """The indexes a lookup compares with: under every blind-index key rows may still hold (one, but
    for the length of a blind-index rotation)."""
    return blind_indexes(spec.keyed_as or table, spec.source, spec.purpose, spec.transform(plaintext))


def to_bytes(kind: Kind, value: Any) -> bytes:
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    if kind == "date":
        return (value if isinstance(value, str) else value.isoformat()).encode()
    return str(value).encode()


def from_bytes(kind: Kind, data: bytes) -> Any:
    if kind == "json":
        return json.loads(data)
    if kind == "date":
        return dt.date.fromisoformat(data.decode())
    return data.decode()


def seal_value(table: str, column: str, row_id: object, value: Any) -> str | None:
    """A plaintext value (as the application holds it) sealed for its column; None stays None, and an
    empty text stays "" (nothing to hide)."""
    if value is None:
        return None
    return seal_present(table, column, row_id, value)


def seal_present(table: str, column: str, row_id: object, value: Any) -> str:
    """`seal_value` of a value that is there ("" stays "")."""
    if value == "":
        return ""
    return field_crypto().seal_bytes(table, column, row_id, to_bytes(SEALED[table][column], value))


def open_value(table: str, column: str, row_id: object, stored: str | None) -> Any:
    """A stored value opened; None is None, "" is the kind's empty value ("", {}, None)."""
    if stored is None:
        return None
    if stored == "":
        return {"text": "", "json": {}, "date": None}[SEALED[table][column]]
    return from_bytes(SEALED[table][column], field_crypto().open_bytes(table, column, row_id, stored))


def sealed_row(table: str, row_id: object, plain: Mapping[str, Any]) -> dict[str, Any]:
    """The stored columns of the given plaintext columns of one row: each sealed column sealed, and every
    blind index computed from a given column (only those: a partial update changes only its indexes)."""
    columns: dict[str, Any] = {}
    sealed = SEALED.get(table, {})
    for column, value in plain.items():
        columns[column] = seal_value(table, column, row_id, value) if column in sealed else value
    for spec in BLIND_INDEXES.get(table, ()):
        if spec.source in plain:
            columns[spec.column] = index_value(table, spec, plain[spec.source])
    return columns
