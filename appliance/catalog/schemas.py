"""Request and response bodies of the catalog API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
TimeZoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Asia/Shanghai"])]
Address = Annotated[str, msgspec.Meta(max_length=500)]


class Branch(msgspec.Struct):
    id: UUID
    name: str
    timezone: str
    address: str
    active: bool
    opening_hours: WeeklyHours
    created_at: datetime
    updated_at: datetime


# A branch's zone when none is given: the "Asia/Shanghai is the default".
DEFAULT_TIMEZONE = "Asia/Shanghai"


class BranchCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    timezone: TimeZoneName = DEFAULT_TIMEZONE
    address: Address = ""
    # Local wall-clock hours per weekday; a weekday left out is closed. Empty: not stated.
    opening_hours: WeeklyHours = {}


class BranchUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZoneName | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    opening_hours: WeeklyHours | msgspec.UnsetType = msgspec.UNSET


# --- Schedules: local wall-clock time in the branch's time zone ------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# "HH:MM", 00:00–24:00; an interval is [start, end) with start < end ("24:00" ends at midnight).
LocalTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$", examples=["09:00"])]
Interval = tuple[LocalTime, LocalTime]
WeeklyHours = dict[Weekday, list[Interval]]


class ScheduleException(msgspec.Struct, forbid_unknown_fields=True):
    """Other hours on one date; no intervals means closed all day."""

    date: date
    intervals: list[Interval] = []


class RecurringBlock(msgspec.Struct, forbid_unknown_fields=True):
    """Never bookable in this window of this weekday ("never Wednesday afternoons")."""

    weekday: Weekday
    start: LocalTime
    end: LocalTime


class Schedule(msgspec.Struct, forbid_unknown_fields=True):
    weekly: dict[Weekday, list[Interval]] = {}
    exceptions: list[ScheduleException] = []
    blocks: list[RecurringBlock] = []


ResourceKind = Literal["staff", "room", "equipment"]
Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Requirement(msgspec.Struct, forbid_unknown_fields=True):
    """`count` distinct resources of `kind`, each having every one of `skills`."""

    kind: ResourceKind
    skills: list[Skill] = []
    count: Annotated[int, msgspec.Meta(ge=1, le=20)] = 1


class Money(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(ge=0)]  # minor units (fen)
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] = "CNY"


# --- Resources -------------------------------------------------------------------------------------

Capacity = Annotated[int, msgspec.Meta(ge=1, le=100)]
LockMinutes = Annotated[int, msgspec.Meta(ge=0, le=1440)]
Skills = Annotated[list[Skill], msgspec.Meta(max_length=50)]


class Resource(msgspec.Struct):
    id: UUID
    branch_id: UUID
    kind: ResourceKind
    name: str
    skills: list[str]
    capacity: int
    active: bool
    user_id: UUID | None
    post_use_lock_minutes: int
    created_at: datetime
    updated_at: datetime


class ResourceCreate(msgspec.Struct, forbid_unknown_fields=True):
    branch_id: UUID
    kind: ResourceKind
    name: Name
    skills: Skills = []
    capacity: Capacity = 1
    user_id: UUID | None = None  # a staff member's login; staff only
    post_use_lock_minutes: LockMinutes = 0


class ResourceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    skills: Skills | msgspec.UnsetType = msgspec.UNSET
    capacity: Capacity | msgspec.UnsetType = msgspec.UNSET
    user_id: UUID | None | msgspec.UnsetType = msgspec.UNSET
    post_use_lock_minutes: LockMinutes | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


# An instant with an offset, e.g. 2026-12-24T09:00:00+08:00; stored as UTC.
Instant = Annotated[datetime, msgspec.Meta(tz=True, examples=["2026-12-24T09:00:00+08:00"])]


class TimeOff(msgspec.Struct):
    id: UUID
    resource_id: UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime
    booking_id: UUID | None = None  # a rule's block that follows this booking


class TimeOffCreate(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: Instant
    ends_at: Instant
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


# --- Services --------------------------------------------------------------------------------------

Channel = Literal["web", "admin", "wechat", "api", "phone", "walk_in"]
# Notice and cutoffs are minutes; two years of them is far beyond any sensible policy.
PolicyMinutes = Annotated[int, msgspec.Meta(ge=0, le=730 * 1440)]
DurationMinutes = Annotated[int, msgspec.Meta(ge=5, le=1440)]
BufferMinutes = Annotated[int, msgspec.Meta(ge=0, le=720)]
Seats = Annotated[int, msgspec.Meta(ge=1, le=500)]
Requirements = Annotated[list[Requirement], msgspec.Meta(min_length=1, max_length=10)]
Description = Annotated[str, msgspec.Meta(max_length=2000)]
AdvanceDays = Annotated[int, msgspec.Meta(ge=1, le=730)]
Channels = Annotated[list[Channel], msgspec.Meta(max_length=6)]
# Which qualifying resources a slot uses first: the day's least loaded (spreading the work), or always the
# same order (filling one resource's day before the next). Round-robin would need state the engine,
# pure and fed only calendars, does not keep.
Assignment = Literal["least_loaded", "fixed_order"]


class Service(msgspec.Struct):
    id: UUID
    branch_id: UUID
    name: str
    description: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    price: Money
    seats: int
    requirements: list[Requirement]
    slot_step_minutes: int
    min_notice_minutes: int
    max_advance_days: int
    channels: list[Channel]  # empty: every channel
    customer_picks_staff: bool
    requires_approval: bool
    cancel_cutoff_minutes: int
    reschedule_cutoff_minutes: int
    assignment: Assignment
    active: bool
    created_at: datetime
    updated_at: datetime


class ServiceCreate(msgspec.Struct, forbid_unknown_fields=True):
    branch_id: UUID
    name: Name
    duration_minutes: DurationMinutes
    requirements: Requirements
    description: Description = ""
    buffer_before_minutes: BufferMinutes = 0
    buffer_after_minutes: BufferMinutes = 0
    price: Money = msgspec.field(default_factory=lambda: Money(amount=0))
    seats: Seats = 1
    # Start times are this far apart; the duration need not be a multiple of it.
    slot_step_minutes: DurationMinutes = 15
    min_notice_minutes: PolicyMinutes = 0
    max_advance_days: AdvanceDays = 90
    channels: Channels = []
    customer_picks_staff: bool = False
    requires_approval: bool = False
    cancel_cutoff_minutes: PolicyMinutes = 120
    reschedule_cutoff_minutes: PolicyMinutes = 120
    assignment: Assignment = "least_loaded"


class ServiceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    duration_minutes: DurationMinutes | msgspec.UnsetType = msgspec.UNSET
    buffer_before_minutes: BufferMinutes | msgspec.UnsetType = msgspec.UNSET
    buffer_after_minutes: BufferMinutes | msgspec.UnsetType = msgspec.UNSET
    price: Money | msgspec.UnsetType = msgspec.UNSET
    seats: Seats | msgspec.UnsetType = msgspec.UNSET
    requirements: Requirements | msgspec.UnsetType = msgspec.UNSET
    slot_step_minutes: DurationMinutes | msgspec.UnsetType = msgspec.UNSET
    min_notice_minutes: PolicyMinutes | msgspec.UnsetType = msgspec.UNSET
    max_advance_days: AdvanceDays | msgspec.UnsetType = msgspec.UNSET
    channels: Channels | msgspec.UnsetType = msgspec.UNSET
    customer_picks_staff: bool | msgspec.UnsetType = msgspec.UNSET
    requires_approval: bool | msgspec.UnsetType = msgspec.UNSET
    cancel_cutoff_minutes: PolicyMinutes | msgspec.UnsetType = msgspec.UNSET
    reschedule_cutoff_minutes: PolicyMinutes | msgspec.UnsetType = msgspec.UNSET
    assignment: Assignment | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
