"""Booking reads: a service's rules, the calendars of a branch in one query, bookings as the API shows them."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Collection, Mapping
from itertools import repeat
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, get_args
from uuid import UUID
from zoneinfo import ZoneInfo

from piccolo.columns.combination import WhereRaw

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings import schemas
from appliance.bookings.sealing import opened_answers, opened_notes
from appliance.bookings.logic import (
    Held, Hours, Need, ResourceCalendar, ServiceRules, parse_schedule, parse_weekly, within_opening_hours,
)
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.schemas import Money, ResourceKind
from appliance.core.db import current_dialect, instant_value, json_value, run_sql, uuid_value
from appliance.core.errors import NotFound
from appliance.core.pagination import split_page
from appliance.core.revision import REVISION_SQL, current_revision, note_seen
from appliance.forms.queries import FormRef

# Held rows can start before a window (long bookings, post-use locks) and local days spill over
# UTC days: fetch this much around it.
CALENDAR_MARGIN = timedelta(days=1)
# No allocation is longer than the database allows (a duration ≤ 1440 min, each buffer ≤ 720, a post-use
# lock ≤ 1440; migration 2026-11-26T13:30 enforces it; longer unavailability is time off): a lower
# bound on starts_at lets the index stop at the window instead of reading all of the past, which
# otherwise grows every query with history. One minute wider than the bound, as SQLite's check is
# in floating-point days.
LONGEST_ALLOCATION = timedelta(minutes=1440 + 720 + 720 + 1440 + 1)
LONGEST_LOCK = timedelta(minutes=1440)
DAY_SLACK = timedelta(hours=3)


@dataclass(frozen=True)
class ServiceContext:
    rules: ServiceRules
    branch_id: UUID
    timezone: ZoneInfo
    name: str
    branch_name: str
    price: Money
    channels: frozenset[str]
    requires_approval: bool
    customer_picks_staff: bool
    cancel_cutoff: timedelta
    reschedule_cutoff: timedelta
    active: bool
    form: FormRef | None  # its booking questions, current version
    branch_active: bool

    def offered_online(self) -> bool:
        """Whether customers may book it themselves: offered, on the web, at a branch that is open."""
        return self.active and self.branch_active and (not self.channels or "web" in self.channels)


@functools.lru_cache(maxsize=1024)
def _minutes(value: int) -> timedelta:
    """Cached: every calendar load asks for each resource's post-use lock."""
    return timedelta(minutes=value)


@functools.lru_cache(maxsize=4096)
def _hours_from_text(text: str) -> Hours:
    return parse_schedule(json.loads(text) or {})


def _resource_hours(value: Any) -> Hours:
    """Parsed once per distinct schedule: every calendar load would otherwise re-parse all of them."""
    return _hours_from_text(value) if isinstance(value, str) else parse_schedule(value or {})


@functools.lru_cache(maxsize=4096)
def _skills_from_text(text: str) -> frozenset[str]:
    return frozenset(json.loads(text) or ())


def _skills(value: Any) -> frozenset[str]:
    return _skills_from_text(value) if isinstance(value, str) else frozenset(value or ())


@functools.lru_cache(maxsize=4096)
def _bookable_from_text(schedule: str, opening: str) -> Hours:
    return within_opening_hours(_hours_from_text(schedule), _opening_from_text(opening))


def _bookable_hours(schedule: Any, opening: Any) -> Hours:
    """A resource's hours cut to its branch's opening hours, once per distinct pair of schedules (most
    staff of a branch share one): every booking loads every resource of its branch."""
    if isinstance(schedule, str) and isinstance(opening, str):
        return _bookable_from_text(schedule, opening)
    return within_opening_hours(_resource_hours(schedule), _opening_hours(opening))


@functools.lru_cache(maxsize=256)
def _opening_from_text(text: str) -> Mapping[int, tuple[tuple[time, time], ...]]:
    return parse_weekly(json.loads(text) or {})


def _opening_hours(value: Any) -> Mapping[int, tuple[tuple[time, time], ...]]:
    return _opening_from_text(value) if isinstance(value, str) else parse_weekly(value or {})


# Raw: it runs on every availability request and booking, and the ORM's select costs more than the query.
_SERVICE_SQL = """
SELECT s.id, s.branch, s.name, s.duration_minutes, s.buffer_before_minutes, s.buffer_after_minutes, s.seats,
       s.requirements, s.slot_step_minutes, s.min_notice_minutes, s.max_advance_days, s.assignment, s.price_amount,
       s.price_currency, s.channels, s.requires_approval, s.customer_picks_staff, s.cancel_cutoff_minutes,
       s.reschedule_cutoff_minutes, s.active, b.timezone AS branch_timezone, b.name AS branch_name,
       b.active AS branch_active,
       f.id AS form_id, f.version AS form_version, :revision AS revision
  FROM service s JOIN branch b ON b.id = s.branch LEFT JOIN form f ON f.attached_to = 'service:' || s.id
 WHERE s.id = {}
""".replace(":revision", REVISION_SQL)


async def load_service(service_id: UUID) -> ServiceContext:
    return (await _load_service(service_id))[0]


# Booking contexts as last read by this process, with the catalog revision they were read at (the database
# changes it with every write to service, branch, form or rule: core/revision.py). Only a check
# against the revision the booking's own calendar query reads makes one usable: see `create_booking`.
_remembered: dict[UUID, tuple[ServiceContext, str]] = {}
_REMEMBERED_KEPT = 1024


async def remembered_service(service_id: UUID) -> tuple[ServiceContext, str | None]:
    """The service's booking context and the catalog revision to check it against before relying on it
    (`load_calendars_at`); None when it was read just now, from the database."""
    if (hit := _remembered.get(service_id)) is not None:
        return hit
    ctx, revision = await _load_service(service_id)
    if revision is not None:
        if len(_remembered) >= _REMEMBERED_KEPT:
            _remembered.clear()
        _remembered[service_id] = (ctx, revision)
    return ctx, None


def forget_service(service_id: UUID) -> None:
    _remembered.pop(service_id, None)


async def remembered_is_current(service_id: UUID) -> bool:
    """Whether the service's remembered context (if any) was read at the catalog's present revision;
    forgotten if not. For a refusal judged on it, which no calendar query confirms."""
    if (hit := _remembered.get(service_id)) is None:
        return True
    if await current_revision() == hit[1]:
        return True
    forget_service(service_id)
    return False


async def _load_service(service_id: UUID) -> tuple[ServiceContext, str | None]:
    rows = await run_sql(_SERVICE_SQL, service_id)
    if not rows:
        raise NotFound("no such service")
    row = rows[0]
    needs = tuple(
        Need(kind=r["kind"], skills=frozenset(r.get("skills", [])), count=int(r.get("count", 1)))
        for r in json_value(row["requirements"])
    )
    rules = ServiceRules(
        id=uuid_value(row["id"]),
        duration=_minutes(row["duration_minutes"]),
        buffer_before=_minutes(row["buffer_before_minutes"]),
        buffer_after=_minutes(row["buffer_after_minutes"]),
        seats=row["seats"],
        needs=needs,
        step=_minutes(row["slot_step_minutes"]),
        min_notice=_minutes(row["min_notice_minutes"]),
        max_advance=timedelta(days=row["max_advance_days"]),
        assignment=row["assignment"],
    )
    return ServiceContext(
        rules=rules,
        branch_id=uuid_value(row["branch"]),
        timezone=ZoneInfo(row["branch_timezone"]),
        name=row["name"],
        branch_name=row["branch_name"],
        price=Money(amount=row["price_amount"], currency=row["price_currency"]),
        channels=frozenset(json_value(row["channels"])),
        requires_approval=bool(row["requires_approval"]),
        customer_picks_staff=bool(row["customer_picks_staff"]),
        cancel_cutoff=_minutes(row["cancel_cutoff_minutes"]),
        reschedule_cutoff=_minutes(row["reschedule_cutoff_minutes"]),
        active=bool(row["active"]),
        form=FormRef(uuid_value(row["form_id"]), row["form_version"]) if row["form_id"] is not None else None,
        branch_active=bool(row["branch_active"]),
    ), row["revision"]


# One query for everything availability needs (and the catalog revision, in the branch row's holder). Plain allocations (the bulk: a busy month of a branch is
# tens of thousands) come packed per resource as three aligned lists of ints (unit, start, end in µs
# since the epoch): one row per resource instead of one per allocation, and no datetime per value.
# Group-class allocations (holder "service@start") come as rows: their holder and seats matter.
_CALENDAR_SQL = """
SELECT 'b' AS row_kind, b.id AS resource, CAST(NULL AS TIMESTAMPTZ) AS starts_at,
       CAST(NULL AS TIMESTAMPTZ) AS ends_at, CAST(NULL AS INTEGER) AS unit,
       CAST(:revision AS VARCHAR) AS holder,
       b.opening_hours AS schedule, CAST(NULL AS JSON) AS skills, CAST(NULL AS INTEGER) AS number,
       CAST(NULL AS VARCHAR) AS name, CAST(NULL AS UUID) AS booking,
       CAST(NULL AS :packed) AS units, CAST(NULL AS :packed) AS starts, CAST(NULL AS :packed) AS ends
  FROM branch b WHERE b.id = {}
UNION ALL
SELECT 'r', r.id, NULL, NULL, r.capacity, r.kind, r.schedule, r.skills, r.post_use_lock_minutes, r.name,
       NULL, NULL, NULL, NULL
  FROM resource r WHERE r.branch = {} AND r.active AND {} LIKE '%,' || r.kind || ',%'
UNION ALL
SELECT 'a', a.resource, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       :units, :starts, :ends
  FROM allocation a JOIN resource r ON r.id = a.resource
 WHERE r.branch = {} AND r.active AND {} LIKE '%,' || r.kind || ',%'
   AND a.active AND a.starts_at < {} AND a.ends_at > {} AND a.starts_at > {}
   AND a.holder NOT LIKE '%@%' AND COALESCE(a.booking <> {}, TRUE)
 GROUP BY a.resource
UNION ALL
SELECT 'g', a.resource, a.starts_at, a.ends_at, a.unit, a.holder, NULL, NULL,
       (SELECT b.seats FROM booking b WHERE b.id = a.booking), NULL, a.booking, NULL, NULL, NULL
  FROM allocation a JOIN resource r ON r.id = a.resource
 WHERE r.branch = {} AND r.active AND {} LIKE '%,' || r.kind || ',%'
   AND a.active AND a.starts_at < {} AND a.ends_at > {} AND a.starts_at > {}
   AND a.holder LIKE '%@%' AND COALESCE(a.booking <> {}, TRUE)
UNION ALL
SELECT 't', t.resource, t.starts_at, t.ends_at, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM time_off t JOIN resource r ON r.id = t.resource
 WHERE r.branch = {} AND r.active AND {} LIKE '%,' || r.kind || ',%'
   AND t.starts_at < {} AND t.ends_at > {} AND COALESCE(t.booking <> {}, TRUE)
"""
_NO_BOOKING = UUID(int=0)  # stands in for "exclude no booking": no allocation belongs to it


def _epoch_us(dialect: str, column: str) -> str:
    """An instant column as µs since the epoch. SQLite keeps instants as UTC text
    "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00"."""
    if dialect == "postgresql":
        # date_part gives a double (extract a numeric, slower to compute); µs are exact after rounding.
        return f"round(1000000 * date_part('epoch', {column}))::int8"
    micros = f"CASE WHEN substr({column}, 20, 1) = '.' THEN CAST(substr({column}, 21, 6) AS INTEGER) ELSE 0 END"
    return f"(CAST(strftime('%s', {column}) AS INTEGER) * 1000000 + {micros})"


@functools.cache
def _calendar_sql(dialect: str) -> str:
    """The calendar query for one engine: ints packed as an array (PostgreSQL) or as text (SQLite)."""
    packed, pack = ("INT8[]", "array_agg({})") if dialect == "postgresql" else ("TEXT", "group_concat({}, ' ')")
    return (
        _CALENDAR_SQL.replace(":packed", packed)
        .replace(":revision", REVISION_SQL)
        .replace(":units", pack.replace("{}", "a.unit"))
        .replace(":starts", pack.replace("{}", _epoch_us(dialect, "a.starts_at")))
        .replace(":ends", pack.replace("{}", _epoch_us(dialect, "a.ends_at")))
    )


def _ints(value: Any) -> list[int]:
    """A packed list: an array from PostgreSQL, space-separated text from SQLite."""
    if isinstance(value, str):
        return list(map(int, value.split()))
    return list(value)


def start_window(rules: ServiceRules, starts_at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """What checking one start needs (load_calendars with no margin): every allocation of its local day,
    which ranks resources by load, and any that could collide with its buffered range plus a lock."""
    local = starts_at.astimezone(tz).date()
    # A few hours of slack: a zone may skip or repeat its midnight.
    day_start = datetime.combine(local, time(), tz) - DAY_SLACK
    day_end = datetime.combine(local + timedelta(days=1), time(), tz) + DAY_SLACK
    reach = starts_at + rules.duration + rules.buffer_after + LONGEST_LOCK
    return min(day_start, starts_at - rules.buffer_before), max(day_end, reach)


def kinds_needed(rules: ServiceRules, required: Collection[UUID] = ()) -> frozenset[str] | None:
    """The resource kinds a calendar for `rules` must hold: those its requirements name, or every kind
    (None) when the caller names resources of its own, which are then checked against the branch's all."""
    return None if required else frozenset(need.kind for need in rules.needs)


def _kinds_pattern(kinds: Collection[str] | None) -> str:
    """`kinds` as the calendar query matches them: ",room,staff," ("," + every kind + "," for None). Kinds
    are plain words (catalog.schemas.ResourceKind), so no LIKE wildcard can come in with them."""
    return "," + ",".join(sorted(get_args(ResourceKind) if kinds is None else kinds)) + ","


async def load_calendars(
    branch_id: UUID, window_start: datetime, window_end: datetime, *, exclude_booking: UUID | None = None,
    margin: timedelta = CALENDAR_MARGIN, kinds: Collection[str] | None = None,
) -> tuple[list[ResourceCalendar], dict[str, int]]:
    """`load_calendars_at` without the catalog revision."""
    calendars, seats_taken, _ = await load_calendars_at(
        branch_id, window_start, window_end, exclude_booking=exclude_booking, margin=margin, kinds=kinds
    )
    return calendars, seats_taken


async def load_calendars_at(
    branch_id: UUID, window_start: datetime, window_end: datetime, *, exclude_booking: UUID | None = None,
    margin: timedelta = CALENDAR_MARGIN, kinds: Collection[str] | None = None,
) -> tuple[list[ResourceCalendar], dict[str, int], str | None]:
    """Every active resource of the branch of `kinds` (None: all) with its schedule (cut to the branch's
    opening hours), time off and held allocations overlapping the window widened by `margin` — in ONE
    query — and the seats already taken per group-class holder; and the catalog revision as the same
    statement saw it (None without one). A service's calendars need only the kinds it requires
    (`kinds_needed`): a branch's devices cost a massage's availability nothing.

    `exclude_booking` leaves out one booking's allocations and the blocks that follow it (a reschedule may
    reuse its own time, and its blocks move with it).
    """
    start, end = window_start - margin, window_end + margin
    since = start - LONGEST_ALLOCATION
    excluded = exclude_booking or _NO_BOOKING
    pattern = _kinds_pattern(kinds)
    rows = await run_sql(
        _calendar_sql(current_dialect()), branch_id, branch_id, pattern, branch_id, pattern, end, start, since,
        excluded, branch_id, pattern, end, start, since, excluded, branch_id, pattern, end, start, excluded,
    )
    resources: dict[UUID, dict[str, Any]] = {}
    held: dict[UUID, list[tuple[int, int, int, str]]] = defaultdict(list)
    time_off: dict[UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    seats_by_holder: dict[str, dict[UUID, int]] = defaultdict(dict)
    opening: Any = None  # the branch's opening hours as the query gives them
    revision: str | None = None
    for row in rows:
        resource_id = uuid_value(row["resource"])
        kind = row["row_kind"]
        if kind == "a":
            held[resource_id] += zip(_ints(row["starts"]), _ints(row["ends"]), _ints(row["units"]), repeat(""))
        elif kind == "r":
            resources[resource_id] = row
        elif kind == "g":  # a group-class occurrence: its seats are counted
            holder = row["holder"]
            held[resource_id].append(Held.between(instant_value(row["starts_at"]), instant_value(row["ends_at"]), int(row["unit"]), holder))
            seats_by_holder[holder][uuid_value(row["booking"])] = int(row["number"] or 0)
        elif kind == "t":
            time_off[resource_id].append((instant_value(row["starts_at"]), instant_value(row["ends_at"])))
        else:
            opening, revision = row["schedule"], row["holder"]
    calendars = [
        ResourceCalendar(
            id=resource_id,
            kind=row["holder"],
            skills=_skills(row["skills"]),
            capacity=int(row["unit"]),
            post_use_lock=_minutes(int(row["number"])),
            hours=_bookable_hours(row["schedule"], opening),
            time_off=tuple(sorted(time_off[resource_id])),
            held=tuple(held[resource_id]),
            name=row["name"],
        )
        for resource_id, row in sorted(resources.items(), key=lambda item: str(item[0]))
    ]
    seats_taken = {holder: sum(by_booking.values()) for holder, by_booking in seats_by_holder.items()}
    note_seen(revision)
    return calendars, seats_taken, revision


def booking_schema(row: dict[str, Any], resource_ids: list[UUID]) -> schemas.Booking:
    """A booking as stored (answers and notes sealed)."""
    return schemas.Booking(
        id=row["id"], status=row["status"], branch_id=row["branch"], service_id=row["service"],
        customer_id=row["customer"], starts_at=row["starts_at"], ends_at=row["ends_at"], channel=row["channel"],
        seats=row["seats"], price=Money(amount=row["price_amount"], currency=row["price_currency"]),
        payment_status=row["payment_status"], resource_ids=resource_ids, answers=opened_answers(row["id"], row["answers"]),
        form_id=row.get("form"), form_version=row.get("form_version"), notes=opened_notes(row["id"], row["notes"]), created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def resource_ids_of(booking_ids: list[UUID]) -> dict[UUID, list[UUID]]:
    """The resources each booking holds; for one that holds nothing any more (cancelled, rejected), the
    ones it held. A rescheduled or reassigned booking's released resources are not among them."""
    found: dict[UUID, list[UUID]] = {b: [] for b in booking_ids}
    if not booking_ids:
        return found
    rows = await Allocation.select(Allocation.booking, Allocation.resource, Allocation.active).where(
        Allocation.booking.is_in(booking_ids)
    ).order_by(Allocation.id)
    holding = {row["booking"] for row in rows if row["active"]}
    for row in rows:
        if (row["active"] or row["booking"] not in holding) and row["resource"] not in found[row["booking"]]:
            found[row["booking"]].append(row["resource"])
    return found


async def get_booking_row(booking_id: UUID, *, actor: Actor, permission: Permission = Permission.bookings_read) -> dict[str, Any]:
    row = await Booking.select().where(Booking.id == booking_id).output(load_json=True).first()
    if row is None or not actor.can(permission, row["branch"]):
        raise NotFound("no such booking")
    return row


async def get_booking(booking_id: UUID, *, actor: Actor) -> schemas.Booking:
    row = await get_booking_row(booking_id, actor=actor)
    return booking_schema(row, (await resource_ids_of([booking_id]))[booking_id])


@dataclass(frozen=True)
class BookingFilter:
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    branch_id: UUID | None = None
    status: str | None = None
    resource_id: UUID | None = None
    customer_id: UUID | None = None
    channel: str | None = None
    service_id: UUID | None = None
    customer_ids: tuple[UUID, ...] | None = None  # any of these (a staff search by phone or name); () finds none


# A booking lists under the resources `resource_ids_of` shows for it: the ones it holds (a reschedule or a
# reassignment releases the old ones), or, once it holds nothing (cancelled, no-show, rejected, imported),
# the ones it held.
_LISTED_UNDER_RESOURCE = """EXISTS (
    SELECT 1 FROM allocation a WHERE a.booking = booking.id AND a.resource = {} AND (
        a.active OR NOT EXISTS (SELECT 1 FROM allocation h WHERE h.booking = booking.id AND h.active)))"""


async def list_bookings(
    filters: BookingFilter, *, actor: Actor, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[schemas.Booking], tuple[datetime, UUID] | None]:
    """A page ordered by (starts_at, id), and the key to continue after (None on the last page)."""
    query = Booking.select().order_by(Booking.starts_at, Booking.id).limit(limit + 1).output(load_json=True)
    scope = actor.branch_scope(Permission.bookings_read)
    if scope is not None:
        query = query.where(Booking.branch.is_in(list(scope) or [UUID(int=0)]))
    if filters.branch_id:
        query = query.where(Booking.branch == filters.branch_id)
    if filters.starts_from:
        query = query.where(Booking.starts_at >= filters.starts_from)
    if filters.starts_before:
        query = query.where(Booking.starts_at < filters.starts_before)
    if filters.status:
        query = query.where(Booking.status == filters.status)
    if filters.customer_id:
        query = query.where(Booking.customer == filters.customer_id)
    if filters.channel:
        query = query.where(Booking.channel == filters.channel)
    if filters.service_id:
        query = query.where(Booking.service == filters.service_id)
    if filters.customer_ids is not None:
        query = query.where(Booking.customer.is_in(list(filters.customer_ids) or [UUID(int=0)]))
    if filters.resource_id:
        query = query.where(WhereRaw(_LISTED_UNDER_RESOURCE, filters.resource_id))
    if after is not None:
        at, last_id = after
        query = query.where((Booking.starts_at > at) | ((Booking.starts_at == at) & (Booking.id > last_id)))
    rows, last = split_page(await query, limit)
    resources = await resource_ids_of([r["id"] for r in rows])
    items = [booking_schema(r, resources[r["id"]]) for r in rows]
    return items, (last["starts_at"], last["id"]) if last else None
