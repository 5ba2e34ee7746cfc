"""Cursor pagination: opaque cursors that encode the sort key of the last item of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from collections.abc import Callable
from typing import Any, Generic, TypeVar
from uuid import UUID

import msgspec

from appliance.core.errors import Invalid

T = TypeVar("T")
K = TypeVar("K")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None  # pass back as ?cursor= for the next page; null on the last page


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Invalid({"cursor": "not a cursor this API returned"}) from None


def decode_id_cursor(cursor: str | None) -> UUID | None:
    """The id after which a page ordered by id goes on."""
    after = decode_cursor(cursor)
    try:
        return UUID(after) if after else None
    except ValueError:
        raise Invalid({"cursor": "not a cursor this API returned"}) from None


def id_page(items: list[T], last: UUID | None) -> Page[T]:
    """A page of a listing keyed by id: the cursor names the last id given out."""
    return Page(items=items, next_cursor=encode_cursor(str(last)) if last else None)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid({"limit": f"must be between 1 and {MAX_LIMIT}"})
    return limit


def split_page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Rows of a query run with `limit + 1`: the page, and its last row when another page follows."""
    page = rows[:limit]
    return page, page[-1] if len(rows) > limit else None


def aware_instant(field: str, value: datetime | None) -> datetime | None:
    """A query-string instant must carry its offset: a bare local time is ambiguous across zones."""
    if value is not None and value.tzinfo is None:
        raise Invalid({field: "needs a UTC offset, e.g. 2026-12-24T00:00:00+08:00"})
    return value


def encode_pair_cursor(key: str, last_id: UUID) -> str:
    """A cursor for lists ordered by (a key, id): the previous page's last pair, the key as text."""
    return encode_cursor(f"{key}|{last_id}")


def decode_pair_cursor(cursor: str | None, parse_key: Callable[[str], K]) -> tuple[K, UUID] | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    try:
        key, _, last_id = raw.partition("|")
        return parse_key(key), UUID(last_id)
    except ValueError:
        raise Invalid({"cursor": "not a cursor this API returned"}) from None


def encode_instant_cursor(last: tuple[datetime, UUID]) -> str:
    """A cursor for lists ordered by (an instant, id)."""
    return encode_pair_cursor(last[0].isoformat(), last[1])


def decode_instant_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    return decode_pair_cursor(cursor, datetime.fromisoformat)
