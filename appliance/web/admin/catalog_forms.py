"""The catalog pages' posted forms as the catalog's input structs, and the error names back onto inputs.

Repeated groups (a weekday's intervals, dated exceptions, a service's requirements) are rows of inputs
with a blank row to add one; the domain numbers only the filled rows, so each parser also says which
form row a domain index is (see `formdata.renumber`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from litestar.datastructures import FormMultiDict

from appliance.catalog import schemas
from appliance.core.errors import Invalid
from appliance.web.admin.formdata import convert, money_minor, renumber, rows, split_path, text, words

NUMBERS = (
    "duration_minutes", "buffer_before_minutes", "buffer_after_minutes", "seats", "slot_step_minutes",
    "min_notice_minutes", "max_advance_days", "cancel_cutoff_minutes", "reschedule_cutoff_minutes",
)
SERVICE_FLAGS = ("customer_picks_staff", "requires_approval")


def weekly_hours(form: FormMultiDict, prefix: str) -> tuple[dict[str, list[list[str]]], dict[str, str]]:
    """`<prefix>.<weekday>[<n>].start/.end` rows as {weekday: [[start, end], …]} (a weekday without a filled
    row is closed), and the domain's row names → the form's."""
    weekly: dict[str, list[list[str]]] = {}
    renames: dict[str, str] = {}
    for day in schemas.WEEKDAYS:
        filled = rows(form, f"{prefix}.{day}", ("start", "end"))
        if filled:
            weekly[day] = [[row["start"], row["end"]] for _, row in filled]
            renames |= {f"{prefix}.{day}[{k}]": f"{prefix}.{day}[{n}]" for k, (n, _) in enumerate(filled)}
    return weekly, renames


def check_weekly(prefix: str, weekly: dict[str, list[list[str]]]) -> None:
    """Invalid naming each badly typed time by its row: msgspec's error path names no dict key (the
    weekday), so each weekday's intervals are checked on their own first."""
    problems: dict[str, str] = {}
    for day, intervals in weekly.items():
        try:
            msgspec.convert(intervals, list[schemas.Interval])
        except msgspec.ValidationError as exc:
            where, message = split_path(str(exc))
            problems[f"{prefix}.{day}{where}"] = message
    if problems:
        raise Invalid(problems)


def _intervals(hours: str) -> list[list[str]]:
    """"09:00-12:00, 13:00-18:00" as intervals; a piece that is no interval stays, for validation to name."""
    found = []
    for piece in words(hours):
        parts = re.split(r"\s*[-–~～至]\s*", piece, maxsplit=1)
        start, end = (parts + [""])[:2]
        found.append([start.strip(), end.strip()])
    return found


def schedule_names(form: FormMultiDict) -> Callable[[str], str]:
    """The schedule's error names (`weekly.mon[0]`, `exceptions[1].intervals[0]`) as the editor's inputs."""
    _, renames = weekly_hours(form, "weekly")
    filled = rows(form, "exceptions", ("date", "hours"))
    numbered = renumber(renames | {f"exceptions[{k}]": f"exceptions[{n}]" for k, (n, _) in enumerate(filled)})

    def rename(key: str) -> str:
        return re.sub(r"\.intervals.*$", ".hours", numbered(key))

    return rename


def schedule(form: FormMultiDict, blocks: list[schemas.RecurringBlock]) -> schemas.Schedule:
    """The schedule editor's weekly rows and dated exceptions (`exceptions[<n>].date/.hours`, the hours
    as "09:00-12:00, 13:00-18:00", none for closed); the recurring blocks, which this editor does not
    show, are kept as they are."""
    weekly, _ = weekly_hours(form, "weekly")
    check_weekly("weekly", weekly)
    exceptions = [
        {"date": row["date"], "intervals": _intervals(row["hours"])} for _, row in rows(form, "exceptions", ("date", "hours"))
    ]
    return convert({"weekly": weekly, "exceptions": exceptions, "blocks": [
        {"weekday": b.weekday, "start": b.start, "end": b.end} for b in blocks
    ]}, schemas.Schedule)


def branch_fields(form: FormMultiDict) -> tuple[dict[str, Any], Callable[[str], str]]:
    """Name, time zone, address and opening hours, for BranchCreate or BranchUpdate."""
    hours, renames = weekly_hours(form, "opening_hours")
    data = {
        "name": text(form, "name", 200), "timezone": text(form, "timezone", 64), "address": text(form, "address", 500),
        "opening_hours": hours,
    }
    return data, renumber(renames)


def service_fields(form: FormMultiDict) -> tuple[dict[str, Any], Callable[[str], str]]:
    """Every field of the service form, for ServiceCreate or ServiceUpdate (the price typed in yuan,
    stored in fen)."""
    filled = rows(form, "requirements", ("kind", "skills", "count"))
    data: dict[str, Any] = {
        "name": text(form, "name", 200), "description": text(form, "description"),
        **{n: text(form, n, 20) for n in NUMBERS},
        "price": {"amount": money_minor(text(form, "price", 40)), "currency": "CNY"},
        "requirements": [
            {"kind": row["kind"], "skills": words(row["skills"]), "count": row["count"] or 1} for _, row in filled
        ],
        "channels": [str(c) for c in form.getall("channels", [])],
        **{flag: form.get(flag) == "on" for flag in SERVICE_FLAGS},
        # Left out when not posted: a create then takes the default, an update keeps what is set.
        **({"assignment": assignment} if (assignment := text(form, "assignment", 20)) else {}),
    }
    numbered = renumber({f"requirements[{k}]": f"requirements[{n}]" for k, (n, _) in enumerate(filled)})

    def rename(key: str) -> str:
        if key.startswith("price"):
            return "price"
        if key.startswith("channels"):
            return "channels"
        return numbered(key)

    return data, rename


def resource_fields(form: FormMultiDict) -> dict[str, Any]:
    """Name, skills, capacity and the lock after each use, for ResourceCreate or ResourceUpdate."""
    return {
        "name": text(form, "name", 200), "skills": words(text(form, "skills")), "capacity": text(form, "capacity", 10),
        "post_use_lock_minutes": text(form, "post_use_lock_minutes", 10) or 0,
    }


def local_instant(value: str, field: str, tz: str) -> datetime:
    """A datetime-local input's "2026-12-24T09:00" as that wall-clock time in the branch's zone."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise Invalid({field: "a date and time"}) from None


def time_off(form: FormMultiDict, tz: str) -> schemas.TimeOffCreate:
    starts = local_instant(text(form, "starts_at", 30), "starts_at", tz)
    ends = local_instant(text(form, "ends_at", 30), "ends_at", tz)
    return schemas.TimeOffCreate(starts_at=starts, ends_at=ends, reason=text(form, "reason", 200))


def branch_of(form: FormMultiDict) -> UUID | None:
    try:
        return UUID(text(form, "branch_id", 40))
    except ValueError:
        return None
