"""Request and response bodies of the booking, availability and self-service APIs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from appliance.catalog.schemas import Money
from appliance.customers.schemas import CustomerContact

Instant = Annotated[datetime, msgspec.Meta(tz=True, examples=["2026-12-01T10:00:00+08:00"])]
Channel = Literal["web", "admin", "wechat", "api", "phone", "walk_in"]


class BookingCreate(msgspec.Struct, forbid_unknown_fields=True):
    service_id: UUID
    starts_at: Instant
    customer: CustomerContact
    resource_ids: Annotated[list[UUID], msgspec.Meta(max_length=20)] = []
    answers: dict[str, Any] = {}
    channel: Channel = "admin"
    seats: Annotated[int, msgspec.Meta(ge=1, le=50)] = 1
    notes: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class PortalBookingCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A customer booking online: always channel web, never a staff note."""

    service_id: UUID
    starts_at: Instant
    customer: CustomerContact
    resource_ids: Annotated[list[UUID], msgspec.Meta(max_length=5)] = []
    answers: dict[str, Any] = {}
    seats: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1


class Reschedule(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: Instant
    resource_ids: Annotated[list[UUID], msgspec.Meta(max_length=20)] = []


class Reassign(msgspec.Struct, forbid_unknown_fields=True):
    resource_id: UUID
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class PaymentStatusBody(msgspec.Struct, forbid_unknown_fields=True):
    payment_status: Literal["unpaid", "awaiting_payment", "paid", "refunded"]


class TransitionBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class Booking(msgspec.Struct):
    id: UUID
    status: str
    branch_id: UUID
    service_id: UUID
    customer_id: UUID
    starts_at: datetime
    ends_at: datetime
    channel: str
    seats: int
    price: Money
    payment_status: str
    resource_ids: list[UUID]
    answers: dict[str, Any]
    form_id: UUID | None  # the form and version the answers were checked against
    form_version: int | None
    notes: str
    created_at: datetime
    updated_at: datetime


class BookingCreated(msgspec.Struct):
    """The created booking and, only in this response, its self-service token."""

    booking: Booking
    manage_token: str
    manage_path: str


class PortalBooking(msgspec.Struct):
    """What the holder of a manage token sees: their booking, without staff-only fields."""

    id: UUID
    status: str
    branch_id: UUID
    branch_name: str
    service_id: UUID
    service_name: str
    starts_at: datetime
    ends_at: datetime
    seats: int
    price: Money
    can_cancel: bool
    can_reschedule: bool
    cutoff_at: datetime


class SlotOut(msgspec.Struct):
    starts_at: datetime
    ends_at: datetime
    resource_ids: list[UUID]
    seats_left: int
    explanation: str


class Availability(msgspec.Struct):
    service_id: UUID
    timezone: str
    slots: list[SlotOut]


class AvailableDays(msgspec.Struct):
    service_id: UUID
    timezone: str
    days: list[date]


class ImportedBooking(msgspec.Struct, frozen=True):
    """A past booking read from an import file, checked and resolved to ids (`imports`): a record of what
    happened, so its status is final (completed, cancelled, no_show)."""

    row: int
    customer_id: UUID
    branch_id: UUID
    service_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    price_amount: int
    price_currency: str
    payment_status: str
    staff_id: UUID | None = None
    notes: str = ""


class ImportedBookings(msgspec.Struct):
    created: int = 0
    unchanged: int = 0  # the customer already had a booking of this service at this time
