"""Rules: when something happens (an event, or a time relative to a booking), if conditions hold, do
these actions in order."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table

from appliance.bookings.tables import Booking
from appliance.catalog.tables import Branch


class Rule(Table):
    id = UUID(primary_key=True)
    name = Varchar(length=200)
    description = Text(default="")
    branch = ForeignKey(Branch, null=True, default=None, on_delete=OnDelete.cascade)  # null: every branch
    enabled = Boolean(default=True, index=True)
    priority = Integer(default=100)  # lower runs first
    stop_further = Boolean(default=False)  # when it matched, rules after it do not run for this trigger
    trigger = JSON(default={})  # {"event": "booking.created"} | {"timer": {"anchor": …, "offset_minutes": …}}
    conditions = JSON(default={"all": []})
    actions = JSON(default=[])
    revision = Integer(default=1)  # bumped by every change, shown in audit entries
    created_at = Timestamptz()
    updated_at = Timestamptz()


class RuleRun(Table):
    """A rule's outcome for one event: what it did and what it skipped, and why. One per (event, rule):
    an event delivered twice never runs a rule's actions twice."""

    id = UUID(primary_key=True)
    event = UUID(index=True)
    rule = UUID(index=True)
    booking = UUID(null=True, default=None, index=True)
    matched = Boolean()
    outcome = JSON(default=[])  # per action: {"type", "result": done | skipped, "reason"}
    created_at = Timestamptz()


class Approval(Table):
    """A booking's approval in levels (front desk, then manager …), each with a time limit. The booking
    waits in pending_approval, holding its slot, until the last level approves; a rejection at any
    level, or a level's time running out, rejects it and frees the slot."""

    id = UUID(primary_key=True)
    booking = ForeignKey(Booking, on_delete=OnDelete.cascade, unique=True)
    rule = UUID(null=True, default=None)
    levels = JSON(default=[])  # [{"approver_role", "approvers", "time_limit_minutes"}, …]
    level = Integer(default=1)  # the level deciding now, from 1
    status = Varchar(length=16, default="pending", index=True)  # pending | approved | rejected | expired | cancelled
    due_at = Timestamptz(null=True, default=None)  # when the current level's time runs out
    history = JSON(default=[])  # [{"level", "decision", "by", "at", "reason"}, …]
    created_at = Timestamptz()
    updated_at = Timestamptz()
