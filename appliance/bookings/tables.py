"""Bookings, the resource allocations that guard them, and idempotency records of create requests."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from appliance.catalog.tables import Branch, Resource, Service
from appliance.customers.tables import Customer
from appliance.forms.tables import Form


class Booking(Table):
    id = UUID(primary_key=True)
    branch = ForeignKey(Branch, on_delete=OnDelete.restrict)
    service = ForeignKey(Service, on_delete=OnDelete.restrict)
    customer = ForeignKey(Customer, on_delete=OnDelete.restrict)
    starts_at = Timestamptz(index=True)
    ends_at = Timestamptz()
    status = Varchar(length=20, index=True)
    channel = Varchar(length=20)
    seats = Integer(default=1)
    price_amount = Integer(default=0)
    price_currency = Varchar(length=3, default="CNY")
    payment_status = Varchar(length=20, default="unpaid")
    answers = Text(default="")  # sealed: the form answers as a JSON map ("": none)
    # The form (and its version) the answers were checked against; none when the service had no form.
    form = ForeignKey(Form, null=True, on_delete=OnDelete.restrict)
    form_version = Integer(null=True, default=None)
    notes = Text(default="")  # sealed ("" when there are none)
    # SHA-256 of the customer's self-service token; the token itself is shown once.
    manage_token_hash = Varchar(length=64, unique=True)
    # When online cancelling had closed (start minus the cut-off) at the moment the customer moved the
    # booking: it stays closed after the move, or a late move to a far date would reopen it.
    cancel_closed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Allocation(Table):
    """A resource unit held for a booking over [starts_at, ends_at): service time plus buffers plus the
    resource's post-use lock.

    No two active allocations of one unit overlap unless they share a holder (the bookings of one
    group-class occurrence share one): PostgreSQL enforces it with an exclusion constraint, SQLite
    with a trigger, both added by raw migrations.
    """

    id = UUID(primary_key=True)
    booking = ForeignKey(Booking, on_delete=OnDelete.cascade, index=True)  # a booking's allocations, by id
    resource = ForeignKey(Resource, on_delete=OnDelete.restrict)
    unit = Integer(default=0)
    holder = Varchar(length=80)
    starts_at = Timestamptz()  # indexed by `allocation_window`, covering (raw migrations 16:30, 17:45)
    ends_at = Timestamptz()
    active = Boolean(default=True)


class IdempotencyRecord(Table):
    """The first response to a create request carrying an Idempotency-Key, per caller."""

    id = UUID(primary_key=True)
    scope = Varchar(length=120)  # who asked: an actor id, or the client address for the public portal
    key = Varchar(length=255)
    request_hash = Varchar(length=64)
    status_code = Integer()
    response = JSON(default={})
    created_at = Timestamptz(index=True)
