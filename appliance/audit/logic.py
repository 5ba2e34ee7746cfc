"""What an audit entry looks like once sealed: its canonical JSON line (what is hashed) and its CSV row.

Pure. The line format is frozen: it is what every sealed entry's hash was computed over, so a new audit
field needs a new format (and a way to tell which entries use it), never a change to this one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

# The keys of a sealed entry's line (format 1), in the order of the CSV columns.
CSV_COLUMNS: tuple[str, ...] = (
    "seq", "occurred_at", "actor_kind", "actor_id", "actor_label", "auth_method", "ip", "request_id", "action",
    "target_type", "target_id", "result", "reason", "changed_fields", "details", "id",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): such text gets a "'".
_FORMULA_START = frozenset("=+-@\t\r")


def format_instant(moment: datetime) -> str:
    """UTC with microseconds, always the same width: 2026-11-26T12:00:00.000000Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_record(row: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """The sealed form of an audit entry row (as the database returns it, JSON columns decoded)."""
    return {
        "seq": seq,
        "id": str(row["id"]),
        "occurred_at": format_instant(row["occurred_at"]),
        "actor_kind": row["actor_kind"],
        "actor_id": row["actor_id"],
        "actor_label": row["actor_label"],
        "auth_method": row["auth_method"],
        "ip": row["ip"],
        "request_id": row["request_id"],
        "action": row["action"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "result": row["result"],
        "reason": row["reason"],
        "changed_fields": list(row["changed_fields"]),
        "details": row["details"],
    }


def entry_line(record: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed and written as one line of entries.jsonl (without its newline)."""
    return canonical_json(record).encode()


def _cell(value: Any) -> str:
    if value.__class__ is str:
        text: str = value
    elif value is None:
        return ""
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        text = ";".join(value)
    elif isinstance(value, (dict, list)):
        text = canonical_json(value)
    else:
        text = str(value)
    return "'" + text if text and text[0] in _FORMULA_START else text


def csv_row(record: Mapping[str, Any]) -> list[str]:
    """The entry as a spreadsheet row: lists joined by ";", details as JSON, formulas neutralised."""
    get = record.get
    return [_cell(get(column)) for column in CSV_COLUMNS]


def csv_header() -> Sequence[str]:
    return CSV_COLUMNS
