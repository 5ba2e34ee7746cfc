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
    created_at: datetime
    updated_at: datetime


class BranchCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    timezone: TimeZoneName
    address: Address = ""


class BranchUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZoneName | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


# --- Schedules: local wall-clock time in the branch's time zone ------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# "HH:MM", 00:00–24:00; an interval is [start, end) with start < end ("24:00" ends at midnight).
LocalTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$", examples=["09:00"])]
Interval = tuple[LocalTime, LocalTime]


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
