"""Catalog rules that need no I/O."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not a usable IANA time zone, or None."""
    if name not in available_timezones():
        return "not an IANA time zone name such as Asia/Shanghai"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "not an IANA time zone name such as Asia/Shanghai"
    return None
