"""Column values to and from an export's files. Pure: no I/O.

JSON Lines keep every value exactly (instants as ISO 8601 in UTC, ids as text, JSON columns as nested
JSON, bytes as base64), so an import restores what was exported. CSV is for people opening the file in
Excel: JSON columns as text, and a cell Excel would run as a formula gets a leading apostrophe."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from piccolo.columns import (
    JSON, JSONB, UUID as UUIDColumn, BigInt, Boolean, Bytea, Column, Date, ForeignKey, Integer, SmallInt, Text,
    Timestamptz, Varchar,
)

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class UnsupportedColumn(TypeError):
    """A column type exports do not know: add it here before a table uses it."""


def _instant(value: Any) -> str:
    if isinstance(value, str):  # SQLite may hand over the stored text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _uuid(value: Any) -> str:
    return str(value if isinstance(value, UUID) else UUID(str(value)))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _date(value: Any) -> str:
    return value if isinstance(value, str) else date.isoformat(value)


def _bytes(value: Any) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


# Checked in order: ForeignKey before UUID (a foreign key column holds the id it points to).
_CODECS: list[tuple[type[Column], Encode, Decode]] = [
    (ForeignKey, _uuid, UUID),
    (UUIDColumn, _uuid, UUID),
    (Timestamptz, _instant, datetime.fromisoformat),
    (Date, _date, date.fromisoformat),
    (JSONB, _json, json.dumps),
    (JSON, _json, json.dumps),
    (Boolean, bool, bool),
    (Bytea, _bytes, base64.b64decode),
    (BigInt, int, int),
    (SmallInt, int, int),
    (Integer, int, int),
    (Varchar, str, str),
    (Text, str, str),
]


def _codec(column: Column) -> tuple[Encode, Decode]:
    for kind, encode, decode in _CODECS:
        if isinstance(column, kind):
            return encode, decode
    raise UnsupportedColumn(f"{column._meta.name}: {type(column).__name__} columns cannot be exported yet")


def encoder(column: Column) -> Encode:
    """Stored value → JSON-able value (None stays None)."""
    encode = _codec(column)[0]
    return lambda value: None if value is None else encode(value)


def decoder(column: Column) -> Decode:
    """JSON Lines value → what the database driver takes (None stays None)."""
    decode = _codec(column)[1]
    return lambda value: None if value is None else decode(value)


def csv_cell(value: Any) -> str:
    """One exported value as a CSV cell: JSON as text, booleans as true/false, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # a number, never a formula, even when negative
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
