"""The transactional outbox: events written with the change that caused them, relayed afterwards to
each subscriber as a delivery, every try recorded as an attempt."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.table import Table


class OutboxEvent(Table):
    id = UUID(primary_key=True)  # the event id, also the idempotency key of every handler
    type = Varchar(length=64, index=True)
    version = Integer(default=1)
    occurred_at = Timestamptz(index=True)
    actor = JSON(default={})
    subject = JSON(default={})
    data = JSON(default={})
    # Set by the fan-out once the event's deliveries exist; null means not fanned out yet.
    dispatched_at = Timestamptz(null=True, default=None, index=True)
    # When the sweeper last handed it on: not again before the grace period passes, or a backlog in the
    # broker's queue would grow by a copy of every late event on every pass.
    swept_at = Timestamptz(null=True, default=None)


class Delivery(Table):
    """One event for one subscriber: created by the fan-out, tried until done or dead.

    status: pending (due at `next_attempt_at`, or now when null) | running (claimed by a worker until
    `claimed_until`) | done | dead (retries exhausted or a permanent failure; re-sent by hand).
    """

    id = UUID(primary_key=True)
    event = ForeignKey(OutboxEvent, on_delete=OnDelete.cascade)
    subscriber = Varchar(length=100, index=True)
    status = Varchar(length=16, default="pending", index=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None, index=True)
    claimed_until = Timestamptz(null=True, default=None)
    last_error = Varchar(length=500, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    completed_at = Timestamptz(null=True, default=None)


class Attempt(Table):
    """One try of a delivery: when, how long, how it went, a short redacted response."""

    id = UUID(primary_key=True)
    delivery = ForeignKey(Delivery, on_delete=OnDelete.cascade, index=True)
    number = Integer()
    started_at = Timestamptz()
    duration_ms = Integer(default=0)
    outcome = Varchar(length=16)  # success | retry | failed
    response = Varchar(length=500, default="")


class Timer(Table):
    """Something to happen at a time ("24 h before the booking starts"): written, moved and cancelled in
    the transaction of the change that causes it, fired by the sweeper as a `timer.fired` event.

    One timer per (name, subject): scheduling it again moves it. status: scheduled | fired | cancelled.
    """

    id = UUID(primary_key=True)
    name = Varchar(length=100)  # what it is for, e.g. "rule:<id>" or "approval.expires"
    subject_type = Varchar(length=32)
    subject_id = Varchar(length=64, index=True)
    due_at = Timestamptz(index=True)
    status = Varchar(length=16, default="scheduled", index=True)
    data = JSON(default={})  # ids and facts for whoever handles the event; nothing personal
    created_at = Timestamptz()
    updated_at = Timestamptz()
    fired_at = Timestamptz(null=True, default=None)
