"""Catalog rules that need no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import count
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from appliance.catalog.schemas import WEEKDAYS, Requirement, Schedule, ServiceCreate, Weekday, WeeklyHours


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not a usable IANA time zone, or None."""
    if name not in available_timezones():
        return "not an IANA time zone name such as Asia/Shanghai"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "not an IANA time zone name such as Asia/Shanghai"
    return None


# --- Schedules and opening hours -------------------------------------------------------------------

def minutes_of(local_time: str) -> int:
    """Minutes after midnight of an "HH:MM" wall-clock time ("24:00" is 1440)."""
    hours, minutes = local_time.split(":")
    return int(hours) * 60 + int(minutes)


def interval_problems(path: str, intervals: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Each interval must start before it ends, and no two may overlap (touching is fine: [start, end))."""
    problems: dict[str, str] = {}
    valid: list[tuple[int, int, int]] = []
    for index, (start, end) in enumerate(intervals):
        if minutes_of(start) >= minutes_of(end):
            problems[f"{path}[{index}]"] = f"starts at {start}, which is not before its end {end}"
        else:
            valid.append((minutes_of(start), minutes_of(end), index))
    valid.sort()
    reach: tuple[int, int, int] | None = None  # of the intervals so far, the one ending last
    for interval in valid:
        if reach is not None and interval[0] < reach[1]:
            # Name the one listed later: it is the one that was added on top of the other.
            earlier, later = sorted((reach[2], interval[2]))
            first, second = intervals[earlier]
            problems.setdefault(f"{path}[{later}]", f"overlaps {path}[{earlier}] ({first}–{second})")
        if reach is None or interval[1] > reach[1]:
            reach = interval
    return problems


def weekly_problems(path: str, weekly: Mapping[Weekday, Sequence[tuple[str, str]]]) -> dict[str, str]:
    problems: dict[str, str] = {}
    for weekday in sorted(weekly, key=WEEKDAYS.index):
        problems.update(interval_problems(f"{path}.{weekday}", weekly[weekday]))
    return problems


def opening_hours_problems(opening_hours: WeeklyHours) -> dict[str, str]:
    return weekly_problems("opening_hours", opening_hours)


def schedule_problems(schedule: Schedule) -> dict[str, str]:
    """Every rule a schedule breaks, by field path (`weekly.mon[1]`, `exceptions[0].date`, `blocks[2]`)."""
    problems = weekly_problems("weekly", schedule.weekly)
    first_of: dict[date, int] = {}
    for index, exception in enumerate(schedule.exceptions):
        if (first := first_of.setdefault(exception.date, index)) != index:
            problems[f"exceptions[{index}].date"] = f"{exception.date} already has an exception (exceptions[{first}])"
        problems.update(interval_problems(f"exceptions[{index}].intervals", exception.intervals))
    for index, block in enumerate(schedule.blocks):
        if minutes_of(block.start) >= minutes_of(block.end):
            problems[f"blocks[{index}]"] = f"starts at {block.start}, which is not before its end {block.end}"
    return problems


# --- Services --------------------------------------------------------------------------------------

# Integer columns are 32-bit on PostgreSQL.
MAX_PRICE_AMOUNT = 2**31 - 1


@dataclass(frozen=True)
class ResourceFacts:
    """What requirement matching needs to know of an active resource."""

    id: UUID
    kind: str
    skills: frozenset[str]


_NOUNS = {
    "staff": ("staff member", "staff members"),
    "room": ("room", "rooms"),
    "equipment": ("piece of equipment", "pieces of equipment"),
}


def _describe(requirement: Requirement) -> str:
    """"2 active rooms with the skill vip"."""
    singular, plural = _NOUNS[requirement.kind]
    text = f"{requirement.count} active {singular if requirement.count == 1 else plural}"
    skills = sorted(set(requirement.skills))
    if skills:
        text += f" with the skill{'s' if len(skills) > 1 else ''} {', '.join(skills)}"
    return text


def requirement_problems(requirements: Sequence[Requirement], resources: Sequence[ResourceFacts]) -> dict[str, str]:
    """Which requirements the branch's active resources cannot meet, alone or together.

    Each requirement needs `count` distinct resources of its kind having all its skills, and no
    resource may serve two requirement places at once: a bipartite matching of places to resources.
    """
    problems: dict[str, str] = {}
    candidates: list[list[UUID]] = []
    for index, requirement in enumerate(requirements):
        wanted = set(requirement.skills)
        fitting = [r.id for r in resources if r.kind == requirement.kind and wanted <= r.skills]
        candidates.append(fitting)
        if len(fitting) < requirement.count:
            have = str(len(fitting)) if fitting else "none"
            problems[f"requirements[{index}]"] = (
                f"needs {_describe(requirement)} in this branch, but the branch has {have}"
            )

    holder: dict[UUID, int] = {}  # resource → the number of the place it fills
    places: dict[int, int] = {}  # a place's number → the index of its requirement
    numbers = count()

    def place(number: int, seen: set[UUID]) -> bool:
        for resource_id in candidates[places[number]]:
            if resource_id in seen:
                continue
            seen.add(resource_id)
            if resource_id not in holder or place(holder[resource_id], seen):
                holder[resource_id] = number
                return True
        return False

    for index, requirement in enumerate(requirements):
        if f"requirements[{index}]" in problems:
            continue
        placed = 0
        for _ in range(requirement.count):
            number = next(numbers)
            places[number] = index
            if place(number, set()):
                placed += 1
            else:
                del places[number]
        if placed < requirement.count:
            # Had any fitting resource been free, it would have been placed: the others hold the rest.
            taken = len(candidates[index]) - placed
            problems[f"requirements[{index}]"] = (
                f"needs {_describe(requirement)}, but the requirements before it already take "
                f"{taken} of the {len(candidates[index])} the branch has"
            )
    return problems


def service_problems(service: ServiceCreate) -> dict[str, str]:
    """Rules of a service's own fields (the requirements against the branch's resources are separate)."""
    problems: dict[str, str] = {}
    if service.price.amount > MAX_PRICE_AMOUNT:
        problems["price.amount"] = f"must be at most {MAX_PRICE_AMOUNT}"
    seen: dict[str, int] = {}
    for index, channel in enumerate(service.channels):
        if (first := seen.setdefault(channel, index)) != index:
            problems[f"channels[{index}]"] = f"{channel} is already listed (channels[{first}])"
    if service.customer_picks_staff and not any(r.kind == "staff" for r in service.requirements):
        problems["customer_picks_staff"] = "needs a staff requirement for the customer to pick from"
    if service.min_notice_minutes >= service.max_advance_days * 1440:
        problems["min_notice_minutes"] = "must be shorter than max_advance_days, or nothing could ever be booked"
    return problems
