"""The one source of the current time: always timezone-aware UTC; and how far from it a date may lie."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final

from appliance.core.errors import Invalid

# Years a date or instant from outside may name: far wider than any booking horizon or history, and far
# enough from datetime's own limits (years 1 and 9999) that a window's arithmetic (a day or a zone's
# offset either side) cannot overflow into a 500.
YEARS_IN_REACH: Final = range(1970, 3000)


def utc_now() -> datetime:
    return datetime.now(UTC)


def in_reach(value: date) -> bool:
    """Whether a date or datetime (aware or naive) lies in YEARS_IN_REACH."""
    return value.year in YEARS_IN_REACH


def check_in_reach(**values: date | None) -> None:
    """Raise Invalid naming each field whose date or instant is out of reach."""
    far = {
        name: f"must lie between the years {YEARS_IN_REACH.start} and {YEARS_IN_REACH.stop - 1}"
        for name, value in values.items() if value is not None and not in_reach(value)
    }
    if far:
        raise Invalid(far)
