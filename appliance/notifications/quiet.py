"""Quiet hours: when customers get no non-urgent messages, read on each branch's local clock. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time  # before start: the window spans midnight (21:00–08:00)


def parse_quiet_hours(text: str) -> QuietHours | None:
    """"21:00-08:00" → the window; "" → none. Raises ValueError for anything else."""
    if not text.strip():
        return None
    found = _WINDOW.match(text)
    if found is None:
        raise ValueError("quiet hours look like 21:00-08:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if (h1, m1) == (h2, m2):
        raise ValueError("quiet hours must not start and end at the same time")
    return QuietHours(time(h1, m1), time(h2, m2))


def quiet_until(now: datetime, zone: ZoneInfo, hours: QuietHours) -> datetime | None:
    """When the quiet hours `now` falls in end (an aware instant), or None when `now` is not quiet."""
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if hours.start < hours.end:
        inside, end_day = hours.start <= clock < hours.end, local.date()
    else:
        inside = clock >= hours.start or clock < hours.end
        end_day = local.date() + timedelta(days=1) if clock >= hours.start else local.date()
    return datetime.combine(end_day, hours.end, tzinfo=zone) if inside else None
