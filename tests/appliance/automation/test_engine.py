"""Rules running on both engines: set off by booking events and by their timers, once per event, in
priority order; timers moved and cancelled with the booking in its transaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.automation import actions as rules
from appliance.automation.engine import SUBSCRIBER, TIMER_PREFIX
from appliance.automation.schemas import RuleCreate
from appliance.automation.tables import RuleRun
from appliance.bookings.actions import (
    reschedule_booking, set_payment_status, transition_booking,
)
from appliance.bookings.states import PaymentStatus
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.core.errors import Invalid
from appliance.events import actions as events
from appliance.events.tables import Delivery, OutboxEvent, Timer
from appliance.events.timers import fire_due_timers
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service

pytestmark = pytest.mark.usefixtures("database")

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def run_rules() -> None:
    """What the worker does, step by step: fan out every pending event, deliver what the rules get;
    until nothing new comes (rules' own changes are events too)."""
    while pending := await OutboxEvent.select(OutboxEvent.id).where(OutboxEvent.dispatched_at.is_null()).order_by(
        OutboxEvent.occurred_at
    ):
        for event in pending:
            for delivery_id in await events.fan_out(event["id"]):
                row = await Delivery.select(Delivery.subscriber).where(Delivery.id == delivery_id).first()
                if row["subscriber"] == SUBSCRIBER:
                    assert await events.deliver(delivery_id) == "done"


async def rule(**fields: Any) -> UUID:
    created = await rules.create_rule(RuleCreate(**{"name": "规则", **fields}), actor=cli_actor())
    return created.id


async def event_types() -> list[str]:
    rows = await OutboxEvent.select(OutboxEvent.type).order_by(OutboxEvent.occurred_at)
    return [r["type"] for r in rows]


async def shop(**service: Any) -> tuple[UUID, datetime]:
    branch = await make_branch()
    await make_resource(branch.id)
    made = await make_service(branch.id, **service)
    day = datetime.now(SHANGHAI).date() + timedelta(days=7)
    return made.id, datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)


async def book(service_id: UUID, starts_at: datetime, channel: str = "web", n: int = 0) -> UUID:
    return await make_booking(service_id, starts_at, name=f"客户{n}", phone=f"+86138000011{n:02d}", channel=channel)


async def status_of(booking_id: UUID) -> tuple[str, str]:
    row = await Booking.select(Booking.status, Booking.payment_status).where(Booking.id == booking_id).first()
    return row["status"], row["payment_status"]


async def test_web_bookings_waiting_for_approval_are_approved_by_a_rule_once_however_often_delivered() -> None:
    rule_id = await rule(
        trigger={"event": "booking.created"},
        conditions={"all": [{"field": "booking.status", "op": "eq", "value": "pending_approval"},
                            {"field": "booking.channel", "op": "eq", "value": "web"}]},
        actions=[{"type": "auto_approve"}, {"type": "emit_event", "event": "custom.auto_approved"}],
    )
    service_id, starts_at = await shop(requires_approval=True)
    web = await book(service_id, starts_at, "web", 1)
    phone = await book(service_id, starts_at + timedelta(hours=2), "phone", 2)

    await run_rules()

    assert await status_of(web) == ("confirmed", "unpaid")
    assert await status_of(phone) == ("pending_approval", "unpaid")
    approved = await AuditEntry.select(AuditEntry.actor_id, AuditEntry.target_id).where(
        AuditEntry.action == "booking.approved"
    )
    assert approved == [{"actor_id": f"rule:{rule_id}", "target_id": str(web)}]
    runs = {r["booking"]: r for r in await RuleRun.select().output(load_json=True)}
    assert runs[web]["matched"] and [a["result"] for a in runs[web]["outcome"]] == ["done", "done"]
    assert runs[phone]["matched"] is False and runs[phone]["outcome"] == []
    assert (await event_types()).count("custom.auto_approved") == 1

    # The same event delivered again (a worker died after the handler, before recording success).
    delivery = await Delivery.select(Delivery.id).where(Delivery.subscriber == SUBSCRIBER).first()
    await Delivery.update({Delivery.status: "pending"}).where(Delivery.id == delivery["id"])
    assert await events.deliver(delivery["id"]) == "done"
    assert await AuditEntry.count().where(AuditEntry.action == "booking.approved") == 1


async def test_rules_run_in_priority_order_and_one_can_stop_the_rest() -> None:
    matched = {"all": []}
    await rule(trigger={"event": "booking.created"}, priority=50, actions=[{"type": "emit_event", "event": "custom.later"}])
    await rule(trigger={"event": "booking.created"}, priority=10, stop_further=True, conditions=matched,
               actions=[{"type": "emit_event", "event": "custom.first"}])
    await rule(trigger={"event": "booking.created"}, priority=20, enabled=False,
               actions=[{"type": "emit_event", "event": "custom.disabled"}])
    service_id, starts_at = await shop()
    await book(service_id, starts_at)

    await run_rules()

    customs = [t for t in await event_types() if t.startswith("custom.")]
    assert customs == ["custom.first"]


async def test_a_reminder_timer_moves_with_the_booking_and_dies_with_it() -> None:
    reminder = await rule(
        trigger={"timer": {"anchor": "starts_at", "offset_minutes": -1440}},
        actions=[{"type": "emit_event", "event": "custom.reminder"}],
    )
    service_id, starts_at = await shop()
    kept, cancelled = await book(service_id, starts_at, n=1), await book(service_id, starts_at + timedelta(hours=3), n=2)
    name = f"{TIMER_PREFIX}{reminder}"

    timer = await Timer.select().where((Timer.subject_id == str(kept)) & (Timer.name == name)).first()
    assert timer["due_at"] == starts_at - timedelta(days=1) and timer["status"] == "scheduled"
    moved_to = starts_at + timedelta(days=1)
    await reschedule_booking(kept, moved_to, actor=cli_actor())
    await transition_booking(cancelled, "cancel", actor=cli_actor())
    timers = {t["subject_id"]: t for t in await Timer.select()}
    assert timers[str(kept)]["due_at"] == moved_to - timedelta(days=1) and timers[str(kept)]["status"] == "scheduled"
    assert timers[str(cancelled)]["status"] == "cancelled"

    assert await fire_due_timers(moved_to - timedelta(days=1, seconds=1)) == 0
    assert await fire_due_timers(moved_to) == 1
    await run_rules()
    reminders = await OutboxEvent.select(OutboxEvent.subject).where(OutboxEvent.type == "custom.reminder")
    assert [_load(r["subject"])["id"] for r in reminders] == [str(kept)]


async def test_completed_unpaid_bookings_await_payment_and_get_a_reminder_a_day_later_unless_paid() -> None:
    await rule(
        trigger={"event": "booking.completed"},
        conditions={"all": [{"field": "booking.payment_status", "op": "eq", "value": "unpaid"}]},
        actions=[{"type": "set_payment_status", "payment_status": "awaiting_payment"}],
    )
    payment_reminder = await rule(
        trigger={"timer": {"anchor": "awaiting_payment_at", "offset_minutes": 1440}},
        conditions={"all": [{"field": "booking.payment_status", "op": "eq", "value": "awaiting_payment"}]},
        actions=[{"type": "emit_event", "event": "custom.payment_reminder"}],
    )
    service_id, starts_at = await shop()
    unpaid, paid_later = await book(service_id, starts_at, n=1), await book(service_id, starts_at + timedelta(hours=3), n=2)
    for booking_id in (unpaid, paid_later):
        await transition_booking(booking_id, "complete", actor=cli_actor())

    before = utc_now()
    await run_rules()

    assert await status_of(unpaid) == ("completed", "awaiting_payment")
    timer = await Timer.select().where(
        (Timer.subject_id == str(unpaid)) & (Timer.name == f"{TIMER_PREFIX}{payment_reminder}")
    ).first()
    assert before + timedelta(days=1) <= timer["due_at"] <= utc_now() + timedelta(days=1)
    await set_payment_status(paid_later, PaymentStatus.paid, actor=cli_actor())  # paid: no reminder

    assert await fire_due_timers(utc_now() + timedelta(days=1, minutes=1)) == 1
    await run_rules()
    reminders = await OutboxEvent.select(OutboxEvent.subject).where(OutboxEvent.type == "custom.payment_reminder")
    assert [_load(r["subject"])["id"] for r in reminders] == [str(unpaid)]


def _load(value: object) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str) else value
    assert isinstance(loaded, dict)
    return loaded


async def test_a_payment_or_a_survey_answer_can_set_rules_off_and_only_booking_events_are_triggers() -> None:
    await rule(
        trigger={"event": "booking.payment_status_changed"},
        conditions={"all": [{"field": "booking.payment_status", "op": "eq", "value": "paid"}]},
        actions=[{"type": "emit_event", "event": "custom.thank_you"}],
    )
    service_id, starts_at = await shop()
    booking_id = await book(service_id, starts_at)
    await set_payment_status(booking_id, PaymentStatus.awaiting_payment, actor=cli_actor())
    await set_payment_status(booking_id, PaymentStatus.paid, actor=cli_actor())

    await run_rules()

    assert (await event_types()).count("custom.thank_you") == 1
    with pytest.raises(Invalid) as refused:
        await rule(trigger={"event": "customer.created"}, actions=[{"type": "emit_event", "event": "custom.hello"}])
    assert set(refused.value.fields) == {"trigger.event"}
