"""Availability engine: which starts of a service can be booked, and which resource units each would hold.

Pure: no I/O. The caller loads a branch's calendars in one query and hands them in; booking creation
calls `check_start` again inside its write transaction, so both paths answer from the same code.

Inside, every instant is an int of microseconds since the Unix epoch (UTC) and every local wall-clock
moment an int of microseconds since 1970-01-01 00:00 wall time: interval arithmetic on ints is exact
and fast, and a daylight-saving day is nothing special once the zone is known as constant-offset
segments (`_Zone`).
"""

from __future__ import annotations

import functools
import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, Final, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.catalog.schemas import WEEKDAYS, Assignment

Strategy = Assignment  # the service's setting, and what the engine may be told instead

END_OF_DAY: Final = time.max
"""An interval end of "24:00": `time` cannot express the midnight that ends a day."""

# --- Inputs and outputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hours:
    """A resource's parsed Schedule: local wall-clock intervals [start, end), 0 = Monday."""

    weekly: Mapping[int, tuple[tuple[time, time], ...]]
    exceptions: Mapping[date, tuple[tuple[time, time], ...]]  # replaces the weekly pattern; () = closed
    blocks: tuple[tuple[int, time, time], ...] = ()  # (weekday, start, end): never bookable then


HeldRow = tuple[int, int, int, str]
"""(start, end, unit, holder): a `Held`, or a plain tuple of the same shape as the calendar query packs them."""


class Held(NamedTuple):
    """An active allocation of one unit of a resource; the range already includes buffers and lock.

    Instants are microseconds since the Unix epoch: a busy calendar holds tens of thousands of these,
    and the calendar query hands them over as plain int tuples without building a datetime each.
    """

    start: int
    end: int
    unit: int
    holder: str

    @classmethod
    def between(cls, starts_at: datetime, ends_at: datetime, unit: int, holder: str) -> Held:
        return cls(_instant(starts_at), _instant(ends_at), unit, holder)

    @property
    def starts_at(self) -> datetime:
        return _moment(self.start)

    @property
    def ends_at(self) -> datetime:
        return _moment(self.end)


@dataclass(frozen=True)
class ResourceCalendar:
    id: UUID
    kind: str
    skills: frozenset[str]
    capacity: int
    post_use_lock: timedelta
    hours: Hours
    time_off: tuple[tuple[datetime, datetime], ...] = ()
    held: tuple[HeldRow, ...] = ()  # in no particular order; a group class repeats one row per booking
    name: str = ""


@dataclass(frozen=True)
class Need:
    kind: str
    skills: frozenset[str]
    count: int


@dataclass(frozen=True)
class ServiceRules:
    id: UUID
    duration: timedelta
    buffer_before: timedelta
    buffer_after: timedelta
    seats: int
    needs: tuple[Need, ...]
    step: timedelta
    min_notice: timedelta
    max_advance: timedelta
    # Which qualifying resources a slot uses first: the day's least loaded (spreads the work), or always
    # the same order (fills one resource's day before the next). The service's setting.
    assignment: Strategy = "least_loaded"


@dataclass(frozen=True)
class Pick:
    resource_id: UUID
    unit: int


@dataclass(frozen=True)
class Hold:
    """What booking a slot writes: one Allocation row per Pick."""

    resource_id: UUID
    unit: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # service time in UTC, without buffers
    ends_at: datetime
    picks: tuple[Pick, ...]  # one per place a need asks for, in needs order
    seats_left: int  # seats free at this start before booking it (>= 1)
    holder: str | None  # set when joining an existing group-class occurrence
    explanation: str  # why these resources


_NO_SEATS_TAKEN: Final[Mapping[str, int]] = MappingProxyType({})


def occurrence_holder(service_id: UUID, starts_at: datetime) -> str:
    """The holder every booking of one group-class occurrence shares on its allocations."""
    return f"{service_id}@{starts_at.astimezone(UTC).isoformat()}"


# --- Schedules -------------------------------------------------------------------------------------

WEEKDAY_NUMBERS: Final[Mapping[str, int]] = MappingProxyType({name: number for number, name in enumerate(WEEKDAYS)})
_LOCAL_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _parse_time(text: object) -> time:
    if text == "24:00":
        return END_OF_DAY
    if not isinstance(text, str) or not (match := _LOCAL_TIME.fullmatch(text)):
        raise ValueError(f"not a time HH:MM: {text!r}")
    return time(int(match[1]), int(match[2]))


def _parse_interval(pair: object) -> tuple[time, time]:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise ValueError(f"not a [start, end] pair: {pair!r}")
    return _parse_time(pair[0]), _parse_time(pair[1])


def _parse_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a date YYYY-MM-DD: {value!r}")
    return date.fromisoformat(value)


def _parse_weekday(value: object) -> int:
    if not isinstance(value, str) or value not in WEEKDAY_NUMBERS:
        raise ValueError(f"not a weekday (mon … sun): {value!r}")
    return WEEKDAY_NUMBERS[value]


def _format_time(moment: time) -> str:
    return "24:00" if moment == END_OF_DAY else f"{moment.hour:02d}:{moment.minute:02d}"


def parse_schedule(schedule: Mapping[str, Any]) -> Hours:
    """Hours from the JSON stored in Resource.schedule (msgspec.to_builtins of catalog.schemas.Schedule).

    Raises ValueError on malformed JSON. Rule breaches (start not before end, overlaps) are left to
    `schedule_problems` at write time; the engine reads an inverted interval as empty.
    """
    try:
        weekly = {
            _parse_weekday(name): tuple(_parse_interval(pair) for pair in intervals)
            for name, intervals in (schedule.get("weekly") or {}).items()
        }
        exceptions: dict[date, tuple[tuple[time, time], ...]] = {}
        for item in schedule.get("exceptions") or ():
            day = _parse_date(item["date"])
            # A duplicate date is refused at write time; should one slip through, keep both lists' hours.
            intervals = tuple(_parse_interval(pair) for pair in item.get("intervals") or ())
            exceptions[day] = exceptions.get(day, ()) + intervals
        blocks = tuple(
            (_parse_weekday(b["weekday"]), _parse_time(b["start"]), _parse_time(b["end"]))
            for b in schedule.get("blocks") or ()
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed schedule: {exc!r}") from exc
    return Hours(weekly=weekly, exceptions=exceptions, blocks=blocks)



def parse_weekly(weekly: Mapping[str, Any]) -> dict[int, tuple[tuple[time, time], ...]]:
    """A weekly pattern ({"mon": [["09:00", "21:00"]], …}) such as a branch's opening hours."""
    return {_parse_weekday(name): tuple(_parse_interval(pair) for pair in intervals) for name, intervals in weekly.items()}


def _intersect(
    xs: tuple[tuple[time, time], ...], ys: tuple[tuple[time, time], ...]
) -> tuple[tuple[time, time], ...]:
    return tuple(
        (max(a, c), min(b, d)) for a, b in xs for c, d in ys if max(a, c) < min(b, d)
    )


def within_opening_hours(hours: Hours, opening: Mapping[int, tuple[tuple[time, time], ...]]) -> Hours:
    """A resource's hours cut to its branch's opening hours: nobody is bookable while the branch is
    closed, whatever their own schedule says. No opening hours at all means no limit."""
    if not opening:
        return hours
    return Hours(
        weekly={day: _intersect(intervals, opening.get(day, ())) for day, intervals in hours.weekly.items()},
        exceptions={
            day: _intersect(intervals, opening.get(day.weekday(), ())) for day, intervals in hours.exceptions.items()
        },
        blocks=hours.blocks,
    )


def _interval_problems(path: str, intervals: object, problems: dict[str, str]) -> None:
    if not isinstance(intervals, list | tuple):
        problems[path] = "not a list of [start, end] pairs"
        return
    earlier: list[tuple[time, time]] = []
    for index, pair in enumerate(intervals):
        where = f"{path}[{index}]"
        try:
            start, end = _parse_interval(pair)
        except ValueError as exc:
            problems[where] = str(exc)
            continue
        if start >= end:
            problems[where] = f"start {_format_time(start)} is not before end {_format_time(end)}"
            continue
        # Report the later of two overlapping intervals, naming the earlier one it collides with.
        for other_start, other_end in earlier:
            if start < other_end and other_start < end:
                problems[where] = f"overlaps {_format_time(other_start)}–{_format_time(other_end)}"
                break
        earlier.append((start, end))


def schedule_problems(schedule: Mapping[str, Any]) -> dict[str, str]:
    """Field path -> message for every rule the schedule breaks; empty when it is fine."""
    problems: dict[str, str] = {}
    weekly = schedule.get("weekly") or {}
    known = [name for name in WEEKDAYS if name in weekly]
    for name in known + sorted(set(weekly) - set(known), key=str):
        if name not in WEEKDAY_NUMBERS:
            problems[f"weekly.{name}"] = "not a weekday (mon … sun)"
        else:
            _interval_problems(f"weekly.{name}", weekly[name], problems)
    first_index: dict[date, int] = {}
    for index, item in enumerate(schedule.get("exceptions") or ()):
        path = f"exceptions[{index}]"
        try:
            day = _parse_date(item.get("date"))
        except ValueError:
            problems[f"{path}.date"] = "not a date YYYY-MM-DD"
        else:
            if (first := first_index.setdefault(day, index)) != index:
                problems[f"{path}.date"] = f"duplicate date {day.isoformat()} (also exceptions[{first}])"
        _interval_problems(f"{path}.intervals", item.get("intervals") or [], problems)
    for index, block in enumerate(schedule.get("blocks") or ()):
        path = f"blocks[{index}]"
        try:
            _parse_weekday(block.get("weekday"))
            start, end = _parse_time(block.get("start")), _parse_time(block.get("end"))
        except ValueError as exc:
            problems[path] = str(exc)
            continue
        if start >= end:
            problems[path] = f"start {_format_time(start)} is not before end {_format_time(end)}"
    return problems


# --- Integer time ------------------------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_US: Final = timedelta(microseconds=1)
_SECOND: Final = 1_000_000
_MINUTE: Final = 60 * _SECOND
_HOUR: Final = 60 * _MINUTE
_DAY: Final = 24 * _HOUR
_FAR: Final = 1 << 62  # beyond any instant handled: stands in for ±infinity in interval arithmetic

_Ranges = list[tuple[int, int]]  # sorted, disjoint, half-open [start, end)


def _instant(moment: datetime) -> int:
    return (moment - _EPOCH) // _US  # a naive datetime raises TypeError here: inputs must be aware


def _moment(instant: int) -> datetime:
    return _EPOCH + timedelta(microseconds=instant)


def _length(delta: timedelta) -> int:
    return delta // _US


def _of_day(moment: time) -> int:
    if moment == END_OF_DAY:
        return _DAY
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * _SECOND + moment.microsecond


def _union(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    """Sorted and merged; touching ranges join (20:00–24:00 and 00:00–02:00 make one shift)."""
    out: _Ranges = []
    for start, end in sorted(ranges):
        if start >= end:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _end(span: tuple[int, int]) -> int:
    return span[1]


def _difference(xs: _Ranges, ys: _Ranges) -> _Ranges:
    """xs minus ys; bisects past the untouched parts of xs, as ys (bookings, time off) are usually few."""
    if not ys:
        return xs[:]
    rest = xs[:]  # clipped in place as ys pass over it
    out: _Ranges = []
    at, count = 0, len(rest)
    for cut_from, cut_to in ys:
        untouched = bisect_right(rest, cut_from, lo=at, key=_end)
        out += rest[at:untouched]
        at = untouched
        while at < count and rest[at][0] < cut_to:
            start, end = rest[at]
            if start < cut_from:
                out.append((start, cut_from))
            if end > cut_to:
                rest[at] = (cut_to, end)
                break
            at += 1
    out += rest[at:]
    return out


def _utc_offset(tz: ZoneInfo, second: int) -> int:
    return (datetime.fromtimestamp(second, tz).utcoffset() or timedelta()) // _US


@functools.lru_cache(maxsize=1024)
def _zone_segments(tz: ZoneInfo, first_day: int, last_day: int) -> tuple[list[int], list[tuple[int, int, int]]]:
    """The starts of the constant-offset segments over [first_day, last_day] and the segments (from, to,
    offset). Shared read-only by every _Zone over those days."""
    second, final = first_day * _DAY // _SECOND, (last_day + 1) * _DAY // _SECOND
    starts, offsets = [-_FAR], [_utc_offset(tz, second)]
    # zoneinfo does not expose its transitions: sample hourly, then bisect to the exact second.
    while second < final:
        probe = min(second + 3600, final)
        if _utc_offset(tz, probe) == offsets[-1]:
            second = probe
            continue
        low, high = second, probe
        while high - low > 1:
            middle = (low + high) // 2
            if _utc_offset(tz, middle) == offsets[-1]:
                low = middle
            else:
                high = middle
        starts.append(high * _SECOND)
        offsets.append(_utc_offset(tz, high))
        second = high
    return starts, list(zip(starts, [*starts[1:], _FAR], offsets, strict=True))


def utc_offset_segments(tz: ZoneInfo, first_day: date, last_day: date) -> list[tuple[datetime, datetime, timedelta]]:
    """The zone's constant-offset spans covering the local dates first_day..last_day: (from, to, UTC
    offset), from and to in UTC, the first and last clipped to a day beyond the dates either side."""
    first, last = first_day.toordinal() - _EPOCH_ORDINAL - 1, last_day.toordinal() - _EPOCH_ORDINAL + 1
    _starts, segments = _zone_segments(tz, first, last)
    low, high = first * _DAY, (last + 1) * _DAY
    return [
        (_moment(max(start, low)), _moment(min(end, high)), offset * _US)
        for start, end, offset in segments if start < high and end > low
    ]


class _Zone:
    """A time zone's UTC offsets over a span, as constant-offset segments.

    A wall-clock range maps to the instants showing it by plain subtraction per segment, so the hour a
    spring-forward day lacks maps to nothing and the hour a fall-back day repeats maps twice.
    """

    def __init__(self, tz: ZoneInfo, first: int, last: int) -> None:
        # Whole days either way, so that calls over the same days share one computation.
        self._starts, self._segments = _zone_segments(tz, first // _DAY, last // _DAY + 1)
        self._near_day: dict[int, list[tuple[int, int, int]]] = {}

    def local_day(self, instant: int) -> int:
        """The local date of an instant, as days since 1970-01-01."""
        return (instant + self._segments[bisect_right(self._starts, instant) - 1][2]) // _DAY

    def near(self, day: int) -> list[tuple[int, int, int]]:
        """The (from, to, offset) segments that can hold instants of local day `day`: UTC offsets stay
        within ±14 h, so two days either side is a safe margin."""
        if (found := self._near_day.get(day)) is None:
            low, high = (day - 2) * _DAY, (day + 3) * _DAY
            found = self._near_day[day] = [s for s in self._segments if s[0] < high and s[1] > low]
        return found

    def day_offset(self, day: int) -> int | None:
        """The one UTC offset around local day `day`, or None near a transition."""
        near = self.near(day)
        return near[0][2] if len(near) == 1 else None

    def instants(self, day: int, wall_from: int, wall_to: int) -> _Ranges:
        """The instants whose wall clock reads within [wall_from, wall_to), both on or next to `day`."""
        out: _Ranges = []
        for start, end, offset in self.near(day):
            low, high = max(start, wall_from - offset), min(end, wall_to - offset)
            if low < high:
                out.append((low, high))
        return out

    def grid(self, day: int, step: int, low: int, high: int) -> list[int]:
        """Instants in [low, high] showing local midnight of `day` + k*step: none for a wall time in a
        spring-forward gap, both for one repeated by a fall-back."""
        midnight = day * _DAY
        found: list[int] = []
        for start, end, offset in self.near(day):
            first = max(start, low, midnight - offset)
            last = min(end - 1, high, midnight + _DAY - 1 - offset)
            if first > last:
                continue
            k = -(-(first - (midnight - offset)) // step)  # first grid point at or after `first`
            at = midnight - offset + k * step
            found.extend(range(at, last + 1, step))
        found.sort()
        return found


def _working(hours: Hours, zone: _Zone, first: int, last: int) -> _Ranges:
    """The instants `hours` work on local days first..last (days since 1970-01-01), blocks left out; not
    merged. A daylight-saving day gets the hours its wall clock shows, no more and no less."""
    blocks: dict[int, _Ranges] = {}
    for weekday, block_from, block_to in hours.blocks:
        blocks.setdefault(weekday, []).append((_of_day(block_from), _of_day(block_to)))
    by_weekday: dict[int, _Ranges] = {}
    working: _Ranges = []
    for day in range(first, last + 1):
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
        local = date.fromordinal(_EPOCH_ORDINAL + day) if hours.exceptions else None
        of_day: _Ranges
        if local is not None and local in hours.exceptions:
            of_day = _day_hours(hours.exceptions[local], blocks.get(weekday, []))
        elif weekday in by_weekday:
            of_day = by_weekday[weekday]
        else:
            of_day = by_weekday[weekday] = _day_hours(hours.weekly.get(weekday, ()), blocks.get(weekday, []))
        if (offset := zone.day_offset(day)) is not None:
            base = day * _DAY - offset
            working += [(base + wall_from, base + wall_to) for wall_from, wall_to in of_day]
        else:
            midnight = day * _DAY
            for wall_from, wall_to in of_day:
                working += zone.instants(day, midnight + wall_from, midnight + wall_to)
    return working


def _day_hours(intervals: Iterable[tuple[time, time]], blocks: _Ranges) -> _Ranges:
    return _difference(_union((_of_day(a), _of_day(b)) for a, b in intervals), _union(blocks))


def scheduled_ranges(
    hours: Hours, time_off: Iterable[tuple[datetime, datetime]], *, tz: ZoneInfo, first_day: date, last_day: date
) -> list[tuple[datetime, datetime]]:
    """When a resource is scheduled to work over the local dates first_day..last_day in `tz`: its hours
    (exceptions, blocks) less its time off, merged, in UTC. What utilisation reports divide by."""
    first, last = first_day.toordinal() - _EPOCH_ORDINAL, last_day.toordinal() - _EPOCH_ORDINAL
    zone = _Zone(tz, (first - 1) * _DAY, (last + 2) * _DAY)
    off = _union((_instant(a), _instant(b)) for a, b in time_off)
    return [(_moment(a), _moment(b)) for a, b in _difference(_union(_working(hours, zone, first, last)), off)]


# --- Matching ----------------------------------------------------------------------------------------


def _augment_from_place(
    place: int, mask: int, orders: list[list[int]], need_of: list[int], by_place: list[int], place_of: dict[int, int],
    seen: set[int],
) -> bool:
    """Kuhn's augmenting path from an unfilled place, trying resources in preference order."""
    for resource in orders[need_of[place]]:
        if not mask >> resource & 1 or resource in seen:
            continue
        seen.add(resource)
        other = place_of.get(resource)
        if other is None or _augment_from_place(other, mask, orders, need_of, by_place, place_of, seen):
            by_place[place], place_of[resource] = resource, place
            return True
    return False


def _augment_from_resource(
    resource: int, places_for: list[list[int]], by_place: list[int], place_of: dict[int, int], seen: set[int]
) -> bool:
    """Kuhn's augmenting path from a required resource: moving already placed ones keeps them placed."""
    for place in places_for[resource]:
        if place in seen:
            continue
        seen.add(place)
        other = by_place[place]
        if other < 0 or _augment_from_resource(other, places_for, by_place, place_of, seen):
            by_place[place], place_of[resource] = resource, place
            return True
    return False


# --- The engine --------------------------------------------------------------------------------------


class _Availability:
    """Everything one call needs, precomputed once: per qualifying resource the set of service starts it
    could serve (working over the buffered range, some unit free over it plus the lock) as ranges, swept
    in time order as a bitmask of feasible resources; the matching then runs on bits only."""

    def __init__(
        self, service: ServiceRules, resources: Sequence[ResourceCalendar], *, tz: ZoneInfo, low: int, high: int,
        days: tuple[int, int] | None, required: frozenset[UUID], strategy: Strategy, seats_wanted: int,
        seats_taken: Mapping[str, int],
    ) -> None:
        if service.step <= timedelta(0) or service.duration <= timedelta(0):
            raise ValueError("a service needs a positive duration and slot step")
        if strategy not in ("least_loaded", "fixed_order"):
            raise ValueError(f"unknown strategy {strategy!r}")
        if seats_wanted < 1:
            raise ValueError("seats_wanted must be at least 1")
        self.service, self.strategy, self.seats_wanted, self.seats_taken = service, strategy, seats_wanted, seats_taken
        self.before, self.after = _length(service.buffer_before), _length(service.buffer_after)
        self.duration, self.step = _length(service.duration), _length(service.step)
        self.low, self.high = low, high
        # Sorted by id string so that neither results nor ties depend on the caller's order.
        self.resources = sorted(resources, key=lambda r: str(r.id))
        self.index = {r.id: i for i, r in enumerate(self.resources)}
        if len(self.index) != len(self.resources):
            raise ValueError("a resource is listed twice")
        longest_lock = max((_length(r.post_use_lock) for r in self.resources), default=0)
        reach_low, reach_high = low - self.before, high + self.duration + self.after + longest_lock
        self.zone = _Zone(tz, reach_low - 3 * _DAY, reach_high + 3 * _DAY)
        self.days = days or (self.zone.local_day(low) - 1, self.zone.local_day(high) + 1)

        self.need_of = [i for i, need in enumerate(service.needs) for _ in range(max(need.count, 0))]
        self.need_masks = [
            sum(1 << i for i, r in enumerate(self.resources) if r.kind == need.kind and need.skills <= r.skills)
            for need in service.needs
        ]
        self.need_checks = [(m, max(need.count, 0)) for m, need in zip(self.need_masks, service.needs, strict=True)]
        self.places_for = [
            [p for p, need in enumerate(self.need_of) if self.need_masks[need] >> i & 1]
            for i in range(len(self.resources))
        ]
        required_at = [self.index.get(rid) for rid in sorted(required, key=str)]
        # A required id that is no listed resource, or fills no need, can never be among the picks.
        self.impossible = any(i is None or not self.places_for[i] for i in required_at)
        self.required = [i for i in required_at if i is not None]
        self.required_mask = sum(1 << i for i in self.required)

        rows = [self._rows(r) for r in self.resources]
        self.unit_ok: list[list[tuple[list[int], list[int]]]] = []
        events: list[tuple[int, int]] = []  # (time, ±(resource + 1)): enters or leaves the feasible set
        self._workable_by_hours: dict[object, _Ranges] = {}
        for i, resource in enumerate(self.resources):
            units = self._feasible_units(resource, rows[i]) if self.places_for[i] else []
            self.unit_ok.append([([a for a, _ in u], [b for _, b in u]) for u in units])
            for start, end in units[0] if len(units) == 1 else _union(r for u in units for r in u):
                events += [(start, i + 1), (end, -(i + 1))]
        events.sort()
        self.events = events
        self.loads = self._loads(rows)
        self.occurrences = self._occurrences(rows) if service.seats > 1 else {}
        self._orders: dict[int, list[list[int]]] = {}
        self._assignments: dict[tuple[int, int], list[int] | None] = {}
        self._picks: dict[tuple[int, int], Pick] = {}
        self._explanations: dict[tuple[int, tuple[int, ...], str], str] = {}

    @staticmethod
    def _rows(resource: ResourceCalendar) -> list[HeldRow]:
        """Deduplicated: a group class writes one identical row per booking, and loads count it once."""
        return list(dict.fromkeys(resource.held))

    def _workable(self, hours: Hours) -> _Ranges:
        """Starts s whose buffered range [s - before, s + duration + after) lies within one working interval
        of `hours`; shared by resources with equal hours, as most staff of a branch work the same pattern."""
        try:
            key: object = (tuple(sorted(hours.weekly.items())), tuple(sorted(hours.exceptions.items())), hours.blocks)
            if (found := self._workable_by_hours.get(key)) is not None:
                return found
        except TypeError:  # unhashable hours (lists instead of tuples): just compute them
            key = None
        tail = self.duration + self.after
        first = self.zone.local_day(self.low - self.before) - 1
        last = self.zone.local_day(self.high + tail) + 1
        working = _working(hours, self.zone, first, last)
        before = self.before
        # s - before >= shift start and s + tail <= shift end; +1 as ranges are half-open.
        # Only starts in [low, high] are ever asked about: cut the rest off, so one start's check (a booking)
        # works on a sliver of the day, not on all of it.
        low, high = self.low, self.high + 1
        workable = [
            (max(a + before, low), min(b - tail + 1, high)) for a, b in _union(working)
            if max(a + before, low) < min(b - tail + 1, high)
        ]
        if key is not None:
            self._workable_by_hours[key] = workable
        return workable

    def _feasible_units(self, resource: ResourceCalendar, rows: list[HeldRow]) -> list[_Ranges]:
        """Per unit, the starts s for which the resource works over [s - before, s + duration + after) and
        the unit is free over that range plus the resource's post-use lock."""
        if resource.capacity < 1:
            return []
        workable = self._workable(resource.hours)
        before, tail = self.before, self.duration + self.after
        lock = _length(resource.post_use_lock)
        low, high = self.low, self.high + 1  # as workable is cut: what rules out no start there is left out
        # Time off [a, b) rules out the starts whose buffered range meets it: a - tail < s < b + before.
        off = [
            (first, last) for a, b in resource.time_off
            if (first := _instant(a) - tail + 1) < high and (last := _instant(b) + before) > low
        ]
        busy: list[_Ranges] = [[] for _ in range(resource.capacity)]
        reach = tail + lock - 1
        for start, end, unit, _holder in rows:
            # Holders need no comparing: a new slot's holder is fresh, and an existing occurrence is joined.
            if start - reach < high and end + before > low and 0 <= unit < resource.capacity:
                busy[unit].append((start - reach, end + before))
        idle: _Ranges | None = None  # what every unit without allocations gets, computed once
        units: list[_Ranges] = []
        for taken in busy:
            if taken:
                units.append(_difference(workable, _union(off + taken)))
            else:
                idle = _difference(workable, _union(off)) if idle is None else idle
                units.append(idle)
        return units

    def _loads(self, rows: list[list[HeldRow]]) -> dict[int, list[int]]:
        """Held microseconds per resource per candidate local day (all units, overlap with the day), for the
        resources that can fill a need: no other one's load is ever compared."""
        zone, (first, last) = self.zone, self.days
        pieces = sorted(  # the instants of each candidate day: usually one range a day
            (start, end, day)
            for day in range(first, last + 1)
            for start, end in zone.instants(day, day * _DAY, (day + 1) * _DAY)
        )
        if not pieces:
            return {}
        count = len(rows)
        loads = {day: [0] * count for day in range(first, last + 1)}
        low, high = pieces[0][0], pieces[-1][1]
        ends = [end for _, end, _ in pieces]
        # With one UTC offset over all candidate days (most zones, most of the year) a row's day is
        # arithmetic; rows that cross local midnight, or any zone with a transition, take the bisect.
        shift = pieces[0][0] - first * _DAY  # minus the UTC offset, when it is one
        uniform = all(piece_from - day * _DAY == shift for piece_from, _, day in pieces)
        for i, resource_rows in enumerate(rows):
            if not self.places_for[i]:
                continue
            for start, end, _unit, _holder in resource_rows:
                if end <= low or start >= high:
                    continue
                if uniform and low <= start and (day := (start - shift) // _DAY) == (end - 1 - shift) // _DAY:
                    loads[day][i] += end - start
                    continue
                at = bisect_right(ends, start)
                while at < len(pieces) and pieces[at][0] < end:
                    piece_from, piece_to, day = pieces[at]
                    loads[day][i] += min(end, piece_to) - max(start, piece_from)
                    at += 1
        return loads

    def _occurrences(self, rows: list[list[HeldRow]]) -> dict[int, tuple[str, dict[int, int]]]:
        """Existing occurrences of this group class by start: holder and the resource units it holds."""
        prefix = f"{self.service.id}@"
        found: dict[int, tuple[str, dict[int, int]]] = {}
        for i, resource_rows in enumerate(rows):
            for _start, _end, unit, holder in resource_rows:
                if not holder.startswith(prefix):
                    continue
                try:
                    starts_at = datetime.fromisoformat(holder[len(prefix):])
                    start = _instant(starts_at)
                except ValueError:
                    continue
                if occurrence_holder(self.service.id, starts_at) != holder:
                    continue
                units = found.setdefault(start, (holder, {}))[1]
                units[i] = min(unit, units.get(i, unit))
        return found

    # --- per candidate ---

    def candidates(self) -> Iterator[tuple[int, int]]:
        """(start, local day) in time order over the candidate days."""
        found = [
            (instant, day)
            for day in range(self.days[0], self.days[1] + 1)
            for instant in self.zone.grid(day, self.step, self.low, self.high)
        ]
        found.sort()
        return iter(found)

    def scan(self, candidates: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int, int]]:
        """(start, day, mask of feasible resources) for starts in time order: one sweep over the events."""
        events, count, at, mask = self.events, len(self.events), 0, 0
        for instant, day in candidates:
            while at < count and events[at][0] <= instant:
                change = events[at][1]
                mask = mask | 1 << (change - 1) if change > 0 else mask & ~(1 << (-change - 1))
                at += 1
            yield instant, day, mask

    def slot(self, start: int, day: int, mask: int) -> Slot | None:
        if self.impossible:
            return None
        if self.occurrences and (occurrence := self.occurrences.get(start)) is not None:
            return self._join(start, day, *occurrence)
        if self.service.seats < self.seats_wanted:
            return None
        chosen = self._assign(day, mask)
        if chosen is None:
            return None
        lead = "least loaded first" if self.strategy == "least_loaded" else "fixed order"
        return Slot(
            starts_at=_moment(start), ends_at=_moment(start + self.duration),
            picks=tuple([self._pick(r, self._lowest_unit(r, start)) for r in chosen]),
            seats_left=self.service.seats, holder=None, explanation=self._explain(day, tuple(chosen), lead),
        )

    def _assign(self, day: int, mask: int) -> list[int] | None:
        """Distinct resources for every place, preferred ones first; None when no matching exists. The same
        for every start of a day with the same feasible set: computed once per (day, mask)."""
        if (day, mask) in self._assignments:
            return self._assignments[(day, mask)]
        chosen = self._assignments[(day, mask)] = self._match(day, mask)
        return chosen

    def _match(self, day: int, mask: int) -> list[int] | None:
        if self.required_mask & ~mask:
            return None
        for need_mask, count in self.need_checks:
            if (mask & need_mask).bit_count() < count:
                return None
        orders = self._preference(day)
        by_place = [-1] * len(self.need_of)
        place_of: dict[int, int] = {}
        for resource in self.required:
            if not _augment_from_resource(resource, self.places_for, by_place, place_of, set()):
                return None
        for place, need in enumerate(self.need_of):
            if by_place[place] >= 0:
                continue
            # The most preferred free resource first; re-route earlier places only when none is left.
            for resource in orders[need]:
                if mask >> resource & 1 and resource not in place_of:
                    by_place[place], place_of[resource] = resource, place
                    break
            else:
                if not _augment_from_place(place, mask, orders, self.need_of, by_place, place_of, set()):
                    return None
        return by_place

    def _preference(self, day: int) -> list[list[int]]:
        """Per need, its qualifying resources in preference order for this local day."""
        key = day if self.strategy == "least_loaded" else 0
        if (orders := self._orders.get(key)) is None:
            loads = (self.loads.get(day) if self.strategy == "least_loaded" else None) or [0] * len(self.resources)
            ranked = sorted(range(len(self.resources)), key=lambda i: (loads[i], i))  # index order is id order
            orders = self._orders[key] = [[i for i in ranked if m >> i & 1] for m in self.need_masks]
        return orders

    def _lowest_unit(self, resource: int, start: int) -> int:
        units = self.unit_ok[resource]
        if len(units) == 1:
            return 0  # the sweep's mask already says it is free
        for unit, (starts, ends) in enumerate(units):
            at = bisect_right(starts, start) - 1
            if at >= 0 and start < ends[at]:
                return unit
        raise AssertionError("a feasible resource has a free unit")  # the sweep's mask guarantees it

    def _pick(self, resource: int, unit: int) -> Pick:
        if (pick := self._picks.get((resource, unit))) is None:
            pick = self._picks[(resource, unit)] = Pick(self.resources[resource].id, unit)
        return pick

    def _join(self, start: int, day: int, holder: str, units: dict[int, int]) -> Slot | None:
        """A new booking of an existing group-class occurrence reuses its holder and resource units."""
        taken = self.seats_taken.get(holder, 0)
        seats_left = self.service.seats - taken
        if seats_left < self.seats_wanted or self.required_mask & ~sum(1 << r for r in units):
            return None
        # Needs order as far as the held resources fill the needs; anything else after them, by id.
        placed = self._assign_fixed(sum(1 << r for r in units)) or []
        chosen = tuple(placed + sorted(set(units) - set(placed)))
        lead = f"joins the booked occurrence ({taken} of {self.service.seats} seats taken)"
        return Slot(
            starts_at=_moment(start), ends_at=_moment(start + self.duration),
            picks=tuple(self._pick(r, units[r]) for r in chosen), seats_left=seats_left, holder=holder,
            explanation=self._explain(day, chosen, lead),
        )

    def _assign_fixed(self, mask: int) -> list[int] | None:
        by_place = [-1] * len(self.need_of)
        place_of: dict[int, int] = {}
        orders = [[i for i in range(len(self.resources)) if m >> i & 1] for m in self.need_masks]
        for place in range(len(self.need_of)):
            if not _augment_from_place(place, mask, orders, self.need_of, by_place, place_of, set()):
                return None
        return by_place

    def _explain(self, day: int, chosen: tuple[int, ...], lead: str) -> str:
        if (text := self._explanations.get((day, chosen, lead))) is None:
            loads = self.loads.get(day) or [0] * len(self.resources)
            parts = [
                f"{self.resources[r].name or self.resources[r].id} {loads[r] // _MINUTE} min"
                + (" (requested)" if self.required_mask >> r & 1 else "")
                for r in chosen
            ]
            text = self._explanations[(day, chosen, lead)] = f"{lead}: {', '.join(parts)}" if parts else lead
        return text


# --- Public API --------------------------------------------------------------------------------------


def find_slots(
    service: ServiceRules, resources: Sequence[ResourceCalendar], *, tz: ZoneInfo, window_start: datetime,
    window_end: datetime, now: datetime, required: frozenset[UUID] = frozenset(), strategy: Strategy | None = None,
    seats_wanted: int = 1, seats_taken: Mapping[str, int] = _NO_SEATS_TAKEN,
) -> list[Slot]:
    """Every bookable start in [window_start, window_end), in time order, with the resources it would hold.

    `resources` are the branch's active resources; `seats_taken` maps a group-class holder to the seats
    its bookings already take; `strategy` overrides the service's `assignment`.
    """
    at_now = _instant(now)
    low = max(_instant(window_start), at_now + _length(service.min_notice))
    high = min(_instant(window_end) - 1, at_now + _length(service.max_advance))
    if low > high:
        return []
    engine = _Availability(
        service, resources, tz=tz, low=low, high=high, days=None, required=required,
        strategy=strategy or service.assignment, seats_wanted=seats_wanted, seats_taken=seats_taken,
    )
    if engine.impossible:
        return []
    joins = bool(engine.occurrences)  # a group class's booked occurrence may be joined with no resource free
    return [
        s for start, day, mask in engine.scan(engine.candidates())
        if (mask or joins) and (s := engine.slot(start, day, mask))
    ]


def check_start(
    service: ServiceRules, resources: Sequence[ResourceCalendar], starts_at: datetime, *, tz: ZoneInfo,
    now: datetime, required: frozenset[UUID] = frozenset(), strategy: Strategy | None = None,
    seats_wanted: int = 1, seats_taken: Mapping[str, int] = _NO_SEATS_TAKEN,
) -> Slot | None:
    """The slot at exactly `starts_at` as `find_slots` would offer it, or None (booking creation re-checks
    with this inside its write transaction)."""
    at_now, start = _instant(now), _instant(starts_at)
    if not at_now + _length(service.min_notice) <= start <= at_now + _length(service.max_advance):
        return None
    day = starts_at.astimezone(tz).date().toordinal() - _EPOCH_ORDINAL  # the one local day ranked by load
    engine = _Availability(
        service, resources, tz=tz, low=start, high=start, days=(day, day), required=required,
        strategy=strategy or service.assignment, seats_wanted=seats_wanted, seats_taken=seats_taken,
    )
    if engine.impossible:
        return None
    return next((s for at, of_day, mask in engine.scan(engine.candidates()) if (s := engine.slot(at, of_day, mask))), None)


def off_grid(service: ServiceRules, starts_at: datetime, *, tz: ZoneInfo) -> bool:
    """Whether `starts_at` misses the service's grid: local midnight + k*step in local wall time."""
    local = starts_at.astimezone(tz).replace(tzinfo=None)
    return bool((local - datetime.combine(local.date(), time())) % service.step)


def step_through(service: ServiceRules, starts_at: datetime, *, tz: ZoneInfo) -> timedelta:
    """The longest slot step that divides the service's and puts `starts_at` on the grid (a booking made
    before the step changed, or imported): the service's own step when it already does."""
    local = starts_at.astimezone(tz).replace(tzinfo=None)
    offset = local - datetime.combine(local.date(), time())
    if not offset % service.step:
        return service.step
    return timedelta(microseconds=math.gcd(_length(service.step), _length(offset)))


def holds_for(service: ServiceRules, slot: Slot, resources: Sequence[ResourceCalendar]) -> list[Hold]:
    """The allocations booking `slot` writes: service time plus buffers plus each resource's post-use lock."""
    lock = {r.id: r.post_use_lock for r in resources}
    missing = [p.resource_id for p in slot.picks if p.resource_id not in lock]
    if missing:
        raise ValueError(f"picked resources not among the calendars: {missing}")
    return [
        Hold(
            resource_id=p.resource_id, unit=p.unit, starts_at=slot.starts_at - service.buffer_before,
            ends_at=slot.ends_at + service.buffer_after + lock[p.resource_id],
        )
        for p in slot.picks
    ]


def available_days(
    service: ServiceRules, resources: Sequence[ResourceCalendar], *, tz: ZoneInfo, first_day: date, last_day: date,
    now: datetime, required: frozenset[UUID] = frozenset(), seats_wanted: int = 1,
    seats_taken: Mapping[str, int] = _NO_SEATS_TAKEN,
) -> list[date]:
    """The local dates in [first_day, last_day] with at least one slot (for calendar pickers)."""
    if last_day < first_day:
        return []
    first, last = first_day.toordinal() - _EPOCH_ORDINAL, last_day.toordinal() - _EPOCH_ORDINAL
    at_now = _instant(now)
    # Instants of those local days lie within a day either side of their wall-clock span.
    low = max(at_now + _length(service.min_notice), (first - 1) * _DAY)
    high = min(at_now + _length(service.max_advance), (last + 2) * _DAY)
    if low > high:
        return []
    engine = _Availability(
        service, resources, tz=tz, low=low, high=high, days=(first, last), required=required,
        strategy="fixed_order", seats_wanted=seats_wanted, seats_taken=seats_taken,
    )
    if engine.impossible:
        return []
    found: set[int] = set()
    for start, day, mask in engine.scan(engine.candidates()):
        # Once a day has a slot its other starts are only swept past, never matched.
        if day not in found and engine.slot(start, day, mask) is not None:
            found.add(day)
    return [date.fromordinal(_EPOCH_ORDINAL + day) for day in sorted(found)]
