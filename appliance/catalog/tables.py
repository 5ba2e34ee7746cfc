"""Catalog tables: branches, bookable resources with their schedules, services."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table


class Branch(Table):
    """A location (门店) with its own time zone; schedules are local wall-clock time in it."""

    id = UUID(primary_key=True)
    name = Varchar(length=200)
    timezone = Varchar(length=64)
    address = Text(default="")
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # {"mon": [["09:00", "21:00"]], …}: when the branch is open; resource schedules lie within it.
    opening_hours = JSON(default={})


class Resource(Table):
    """Something a booking holds: a staff member, a room or a piece of equipment.

    `capacity` units can be held at once (a room with four beds); `schedule` is the weekly
    wall-clock pattern with dated exceptions and recurring blocks (see catalog.schemas.Schedule).
    """

    id = UUID(primary_key=True)
    branch = ForeignKey(Branch, on_delete=OnDelete.restrict)
    kind = Varchar(length=16)  # staff | room | equipment
    name = Varchar(length=200)
    skills = JSON(default=[])
    capacity = Integer(default=1)
    active = Boolean(default=True)
    # A staff member's login (lazy: auth.tables already imports this module).
    user: ForeignKey[Table] = ForeignKey(
        LazyTableReference("User", module_path="appliance.auth.tables"), null=True, on_delete=OnDelete.set_null
    )
    # Held after every booking whatever the service ("room B locked 2 hours after each booking").
    post_use_lock_minutes = Integer(default=0)
    schedule = JSON(default={})
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TimeOff(Table):
    """A range when a resource is unavailable (leave, maintenance), in absolute time."""

    id = UUID(primary_key=True)
    resource = ForeignKey(Resource, on_delete=OnDelete.cascade)
    starts_at = Timestamptz(index=True)
    ends_at = Timestamptz()
    reason = Varchar(length=200, default="")
    # A block a rule keeps beside a booking ("room B, 30 minutes after it ends"): the booking it follows
    # and its window relative to it, so it moves when the booking moves and goes when the booking does.
    booking = UUID(null=True, default=None, index=True)
    follow_window = JSON(null=True, default=None)  # {anchor, offset_minutes, minutes, resource_kind | resource_id}
    created_at = Timestamptz()


class Service(Table):
    """Something customers book (服务项目), and what it needs: a list of {kind, skills, count}."""

    id = UUID(primary_key=True)
    branch = ForeignKey(Branch, on_delete=OnDelete.restrict)
    name = Varchar(length=200)
    description = Text(default="")
    duration_minutes = Integer()
    buffer_before_minutes = Integer(default=0)
    buffer_after_minutes = Integer(default=0)
    price_amount = Integer(default=0)  # minor units (fen)
    price_currency = Varchar(length=3, default="CNY")
    seats = Integer(default=1)  # > 1: a group class; bookings share the held resources
    requirements = JSON(default=[])
    slot_step_minutes = Integer(default=15)
    min_notice_minutes = Integer(default=0)
    max_advance_days = Integer(default=90)
    channels = JSON(default=[])  # empty: every channel
    customer_picks_staff = Boolean(default=False)
    requires_approval = Boolean(default=False)
    cancel_cutoff_minutes = Integer(default=120)
    reschedule_cutoff_minutes = Integer(default=120)
    assignment = Varchar(length=20, default="least_loaded")  # least_loaded | fixed_order (catalog.schemas.Assignment)
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
