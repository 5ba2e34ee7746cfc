"""Customers' personal data as stored: sealed columns and blind indexes (`appliance.core.crypto`).

Every write of a customer's personal fields builds its columns with `customer_columns`; every read opens
them with `opened_customer`. Notes and logged interactions go through `note_body`/`opened_note` and
`interaction_note`/`opened_interaction`, further phones through `extra_phone_columns`/`opened_phone`, a
merge record's profile values through
`merge_profile`/`opened_merge_profile`. The blind indexes are computed here from the normalised values
(an E.164 phone, a lower-cased email), so lookups (`customers.queries.find_customer_ids`) compare like
with like.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from appliance.core.crypto.registry import BLIND_INDEXES, lookup_values, open_value, seal_present, sealed_row

CUSTOMER = "customer"
EXTRA_PHONE = "customer_phone"
# The sealed columns of a customer, and what an empty one reads as.
PERSONAL_FIELDS: dict[str, Any] = {
    "name": "", "phone": None, "email": None, "gender": None, "birthday": None, "preferences": {}, "custom_fields": {},
}
_INDEX = {spec.column: spec for spec in BLIND_INDEXES[CUSTOMER]}
_LOOKUP = {"name": "name_bidx", "phone": "phone_bidx", "last4": "phone_last4_bidx", "email": "email_bidx"}


def customer_columns(customer_id: UUID, **plain: Any) -> dict[str, Any]:
    """The stored columns for the given personal fields (name, phone, email, gender, birthday,
    preferences, custom_fields) of one customer: each sealed, with the blind indexes of the name, phone
    and email given. Only the fields given; a None removes the value (and its indexes)."""
    unknown = set(plain) - set(PERSONAL_FIELDS)
    if unknown:
        raise ValueError(f"not a personal field: {', '.join(sorted(unknown))}")
    values = {k: ("" if v is None and PERSONAL_FIELDS[k] is not None else v) for k, v in plain.items()}
    columns = sealed_row(CUSTOMER, customer_id, {k: v for k, v in values.items() if v != ""})
    for k, v in values.items():
        if v == "":
            columns[k] = ""
            columns |= {spec.column: None for spec in BLIND_INDEXES[CUSTOMER] if spec.source == k}
    return columns


def opened_customer(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with its sealed personal fields opened (those it holds); `row` needs its "id"."""
    opened = dict(row)
    for field, empty in PERSONAL_FIELDS.items():
        if field in row:
            stored = row[field]
            opened[field] = empty if stored in (None, "") else open_value(CUSTOMER, field, row["id"], stored)
    return opened


def lookup_indexes(kind: str, normalised: str | None) -> list[str]:
    """The blind indexes a normalised value may be stored under (kind is name, phone (E.164), last4 or
    email): one, or during a blind-index rotation one per key; none for None."""
    spec = _INDEX[_LOOKUP[kind]]
    return lookup_values(CUSTOMER, spec, normalised)


def extra_phone_columns(phone_id: UUID, phone: str) -> dict[str, Any]:
    """A further phone's stored columns: sealed, with blind indexes a lookup of the customer's finds
    (`registry.BLIND_INDEXES["customer_phone"]` is keyed as the customer's)."""
    return sealed_row(EXTRA_PHONE, phone_id, {"phone": phone})


def opened_phone(row: Mapping[str, Any]) -> str:
    """A further phone's E.164 number; `row` needs its "id" and "phone"."""
    phone: str = open_value(EXTRA_PHONE, "phone", row["id"], row["phone"])
    return phone


def note_body(note_id: UUID, body: str) -> str:
    return seal_present("customer_note", "body", note_id, body) if body else ""


def opened_note(row: Mapping[str, Any]) -> dict[str, Any]:
    body = row["body"]
    return {**row, "body": open_value("customer_note", "body", row["id"], body) if body else ""}


def interaction_note(interaction_id: UUID, note: str) -> str:
    return seal_present("customer_interaction", "note", interaction_id, note) if note else ""


def opened_interaction(row: Mapping[str, Any]) -> dict[str, Any]:
    note = row["note"]
    return {**row, "note": open_value("customer_interaction", "note", row["id"], note) if note else ""}


def merge_profile(merge_id: UUID, profile: Mapping[str, Any]) -> str:
    """A merge record's profile values (`schemas.MergeProfile` as builtins) sealed; none: ""."""
    return seal_present("customer_merge", "profile", merge_id, dict(profile)) if any(profile.values()) else ""


def opened_merge_profile(row: Mapping[str, Any]) -> dict[str, Any]:
    stored = row["profile"]
    opened: dict[str, Any] = open_value("customer_merge", "profile", row["id"], stored) if stored else {}
    return opened
