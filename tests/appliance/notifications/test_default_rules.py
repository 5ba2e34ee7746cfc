"""The default rules of a new appliance, end to end on both engines with a real SMTP server: a
confirmation on booking, a reminder a day ahead, awaiting payment on completion, and a payment
reminder a day later unless paid."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.auth.actor import cli_actor
from appliance.automation.defaults import DEFAULT_RULES, install_default_rules
from appliance.automation.tables import Rule
from appliance.bookings.actions import NewBooking, create_booking, set_payment_status, transition_booking
from appliance.bookings.states import PaymentStatus
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.customers.schemas import CustomerContact
from appliance.events.timers import fire_due_timers
from appliance.testing.builders import make_branch, make_resource, make_service
from appliance.testing.deliveries import deliver_everything
from tests.smtp_server import Inbox, MailServer

pytestmark = pytest.mark.usefixtures("database")

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_default_rules_install_once_and_pass_their_own_checks() -> None:
    assert len(await install_default_rules(actor=cli_actor())) == len(DEFAULT_RULES) == 5
    assert await install_default_rules(actor=cli_actor()) == []
    assert await Rule.count() == 5


async def test_a_customer_gets_confirmation_reminder_and_payment_reminder_and_nothing_more(
    smtp: tuple[Inbox, MailServer],
) -> None:
    inbox, _ = smtp
    await install_default_rules(actor=cli_actor())
    branch = await make_branch("静安店")
    await make_resource(branch.id)
    service = await make_service(branch.id, "精油按摩", price={"amount": 19800, "currency": "CNY"})
    day = datetime.now(SHANGHAI).date() + timedelta(days=3)
    starts_at = datetime(day.year, day.month, day.day, 15, 0, tzinfo=SHANGHAI)
    bookings = {}
    for n, email in enumerate(("li.lei@example.com", "han.meimei@example.com")):
        created = await create_booking(
            NewBooking(service_id=service.id, starts_at=starts_at + timedelta(hours=2 * n), channel="web",
                       customer=CustomerContact(name=f"客户{n}", phone=f"+8613900000{n:03d}", email=email)),
            actor=cli_actor(), staff=True,
        )
        bookings[email] = created.booking.id
    await deliver_everything()
    assert sorted(m["To"] for m in inbox.received) == sorted(bookings)
    assert all(m["Subject"].startswith("预约确认") for m in inbox.received)

    await fire_due_timers(starts_at - timedelta(hours=23))  # a day before the first booking
    await deliver_everything()
    reminders = [m for m in inbox.received if m["Subject"].startswith("预约提醒")]
    assert [m["To"] for m in reminders] == ["li.lei@example.com"]

    for booking_id in bookings.values():
        await transition_booking(booking_id, "complete", actor=cli_actor())
    await deliver_everything()
    statuses = {r["id"]: r["payment_status"] for r in await Booking.select(Booking.id, Booking.payment_status)}
    assert set(statuses.values()) == {"awaiting_payment"}
    await set_payment_status(bookings["han.meimei@example.com"], PaymentStatus.paid, actor=cli_actor())
    await deliver_everything()

    await fire_due_timers(utc_now() + timedelta(days=3))  # everything due by then, the second reminder too
    await deliver_everything()
    payment = [m for m in inbox.received if m["Subject"].startswith("付款提醒")]
    assert [m["To"] for m in payment] == ["li.lei@example.com"] and "¥198.00" in payment[0]["Subject"]
    surveys = [m for m in inbox.received if m["Subject"] == "精油按摩体验如何？"]
    assert sorted(m["To"] for m in surveys) == sorted(bookings)
    assert all("https://book.shop.example/portal/survey/" in m.get_content() for m in surveys)
    # Two confirmations, one reminder (the second booking was completed before its reminder was due, so
    # when that timer fired its conditions no longer held), one payment reminder, two surveys.
    assert len(inbox.received) == 2 + 1 + 1 + 2
