"""Timer backfill on both engines: a rule's timers follow the rule itself — created for the existing
bookings it applies to when it is created or enabled, moved when its offset or anchor changes, cancelled
when it is disabled or deleted — in bounded batches continued by a durable timer, safe to repeat."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from appliance.auth.actor import cli_actor
from appliance.automation import actions as rules
from appliance.automation import rule_timers
from appliance.automation.engine import TIMER_PREFIX
from appliance.automation.schemas import RuleUpdate
from appliance.bookings.actions import set_payment_status, transition_booking
from appliance.bookings.states import PaymentStatus
from appliance.core.clock import utc_now
from appliance.events.tables import OutboxEvent, Timer
from appliance.events.timers import fire_due_timers
from appliance.testing.deliveries import deliver_everything
from tests.appliance.automation.test_engine import SHANGHAI, book, rule, shop

pytestmark = pytest.mark.usefixtures("database")

REMINDER = {"trigger": {"timer": {"anchor": "starts_at", "offset_minutes": -1440}},
            "actions": [{"type": "emit_event", "event": "custom.reminder"}]}


async def timers_of(rule_id: UUID) -> dict[str, tuple[str, datetime]]:
    """Booking id → (status, due) of the rule's timers."""
    rows = await Timer.select().where(Timer.name == f"{TIMER_PREFIX}{rule_id}")
    return {r["subject_id"]: (r["status"], r["due_at"]) for r in rows}


def within_a_day() -> datetime:
    """The next whole hour at least an hour away when the shop (09:00–18:00 Shanghai) is open: under a day away."""
    at = datetime.now(SHANGHAI).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    while not 9 <= at.hour <= 16:
        at += timedelta(hours=1)
    return at


async def change(rule_id: UUID, **fields: Any) -> None:
    await rules.update_rule(rule_id, RuleUpdate(**fields), actor=cli_actor())
    await deliver_everything()


async def test_a_new_rule_gets_timers_for_existing_bookings_that_move_and_die_with_the_rule() -> None:
    service_id, starts_at = await shop()
    first, second, cancelled = [await book(service_id, starts_at + timedelta(hours=h), n=h) for h in (0, 2, 4)]
    await transition_booking(cancelled, "cancel", actor=cli_actor())
    soon_at = within_a_day()
    soon = await book(service_id, soon_at, n=9)  # its reminder time has passed

    reminder = await rule(**REMINDER)
    await deliver_everything()

    day = timedelta(days=1)
    assert await timers_of(reminder) == {
        str(first): ("scheduled", starts_at - day), str(second): ("scheduled", starts_at + timedelta(hours=2) - day),
    }
    assert str(soon) not in await timers_of(reminder) and str(cancelled) not in await timers_of(reminder)

    await change(reminder, trigger={"timer": {"anchor": "ends_at", "offset_minutes": -120}})  # moved
    assert await timers_of(reminder) == {
        str(first): ("scheduled", starts_at - timedelta(hours=1)),
        str(second): ("scheduled", starts_at + timedelta(hours=1)),
        str(soon): ("scheduled", soon_at - timedelta(hours=1)),  # an hour before it ends: still to come
    }
    await change(reminder, enabled=False)
    assert {s for s, _ in (await timers_of(reminder)).values()} == {"cancelled"}
    await change(reminder, enabled=True)  # re-armed, and a second pass changes nothing
    armed = await timers_of(reminder)
    assert {s for s, _ in armed.values()} == {"scheduled"} and len(armed) == 3
    await rule_timers.reconcile(reminder)
    assert await timers_of(reminder) == armed

    await rules.delete_rule(reminder, actor=cli_actor())
    await deliver_everything()
    assert {s for s, _ in (await timers_of(reminder)).values()} == {"cancelled"}
    assert await fire_due_timers(starts_at + timedelta(days=2)) == 0


async def test_a_timer_that_fired_is_not_fired_again_when_the_rule_changes() -> None:
    service_id, starts_at = await shop()
    booking = await book(service_id, starts_at)
    reminder = await rule(**REMINDER)
    await deliver_everything()
    assert await fire_due_timers(starts_at - timedelta(hours=23)) == 1
    await deliver_everything()

    await change(reminder, trigger={"timer": {"anchor": "starts_at", "offset_minutes": -60}}, name="改名")

    assert (await timers_of(reminder))[str(booking)][0] == "fired"
    assert await fire_due_timers(starts_at) == 0


async def test_timers_counting_from_completion_or_payment_due_are_backfilled_from_when_that_happened() -> None:
    service_id, starts_at = await shop()
    completed, awaiting, paid = [await book(service_id, starts_at + timedelta(hours=h), n=h) for h in (0, 2, 4)]
    for booking_id in (completed, awaiting, paid):
        await transition_booking(booking_id, "complete", actor=cli_actor())
    for booking_id in (awaiting, paid):
        await set_payment_status(booking_id, PaymentStatus.awaiting_payment, actor=cli_actor())
    await set_payment_status(paid, PaymentStatus.paid, actor=cli_actor())
    happened = {
        (r["type"], r["subject"]["id"]): r["occurred_at"]
        for r in await OutboxEvent.select(OutboxEvent.type, OutboxEvent.subject, OutboxEvent.occurred_at).output(load_json=True)
        if r["type"] in ("booking.completed", "booking.payment_status_changed")
    }

    survey = await rule(trigger={"timer": {"anchor": "completed_at", "offset_minutes": 120}},
                        actions=[{"type": "emit_event", "event": "custom.survey"}])
    payment = await rule(trigger={"timer": {"anchor": "awaiting_payment_at", "offset_minutes": 1440}},
                         actions=[{"type": "emit_event", "event": "custom.pay"}])
    await deliver_everything()

    two_hours, day = timedelta(hours=2), timedelta(days=1)
    assert await timers_of(survey) == {
        str(b): ("scheduled", happened[("booking.completed", str(b))] + two_hours) for b in (completed, awaiting, paid)
    }
    assert await timers_of(payment) == {
        str(awaiting): ("scheduled", happened[("booking.payment_status_changed", str(awaiting))] + day),
    }


async def test_a_large_backfill_goes_in_bounded_batches_continued_by_a_durable_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rule_timers, "BATCH", 2)
    monkeypatch.setattr(rule_timers, "BATCHES_PER_DELIVERY", 2)
    service_id, starts_at = await shop()
    bookings = [await book(service_id, starts_at + timedelta(hours=h), n=h) for h in range(7)]

    reminder = await rule(**REMINDER)
    await deliver_everything()
    passes = 1
    while await fire_due_timers(utc_now()):  # each continuation, as the sweeper would fire it
        await deliver_everything()
        passes += 1

    assert passes == 3  # 7 bookings, 2 a batch, 2 batches a delivery (and the timers phase first)
    timers = await timers_of(reminder)
    assert {booking: s for booking, (s, _) in timers.items()} == {str(b): "scheduled" for b in bookings}
    continuation = await Timer.select(Timer.status).where(Timer.name == rule_timers.CONTINUE)
    assert [c["status"] for c in continuation] == ["fired"]
