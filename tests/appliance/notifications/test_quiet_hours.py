"""Quiet hours end to end on both engines with a real SMTP server: a customer's reminder due in them waits
(recorded on the message, a durable timer set) and is sent once when they end; a confirmation is not held
back; an opted-out customer is skipped, not deferred."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest

from appliance.auth.actor import cli_actor
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.events.tables import Timer
from appliance.events.timers import fire_due_timers
from appliance.notifications.actions import DEFERRED_TIMER, queue_message
from appliance.notifications.consent import opt_out
from appliance.notifications.tables import Message
from appliance.settings import Settings
from appliance.testing.deliveries import deliver_everything
from tests.appliance.notifications.support import SHANGHAI, book, point_channels
from tests.smtp_server import Inbox, MailServer

pytestmark = pytest.mark.usefixtures("database")


def quiet_now(settings: Settings, server: MailServer) -> datetime:
    """Quiet hours from an hour ago to two hours from now on Shanghai's clock; returns when they end."""
    now = datetime.now(SHANGHAI).replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    point_channels(settings, server, APPLIANCE_NOTIFICATIONS_QUIET_HOURS=f"{start:%H:%M}-{end:%H:%M}")
    return end


async def send(booking_id: UUID, template: str) -> UUID:
    return await queue_message(booking_id, channel_name="email", template=template, recipient="customer",
                               actor=cli_actor())


async def message(message_id: UUID) -> dict[str, object]:
    row: dict[str, object] = await Message.select().where(Message.id == message_id).first()
    return row


async def test_a_reminder_in_quiet_hours_waits_for_their_end_and_is_sent_once(
    settings: Settings, smtp: tuple[Inbox, MailServer]
) -> None:
    inbox, server = smtp
    ends = quiet_now(settings, server)
    booking_id = await book()

    reminder = await send(booking_id, "booking_reminder")
    confirmation = await send(booking_id, "booking_confirmation")  # urgent: the reply to the booking itself
    await deliver_everything()

    assert [m["Subject"][:4] for m in inbox.received] == ["预约确认"]
    held = await message(reminder)
    assert (held["status"], held["reason"], held["deferred_until"]) == ("deferred", "quiet hours", ends)
    assert (await message(confirmation))["deferred_until"] is None
    timer = await Timer.select(Timer.due_at, Timer.status).where(
        (Timer.name == DEFERRED_TIMER) & (Timer.subject_id == str(reminder))
    ).first()
    assert (timer["due_at"], timer["status"]) == (ends, "scheduled")

    assert await fire_due_timers(utc_now()) == 0  # not yet
    await fire_due_timers(ends + timedelta(seconds=1))
    await deliver_everything()
    await deliver_everything()

    assert [m["Subject"][:4] for m in inbox.received] == ["预约确认", "预约提醒"]
    sent = await message(reminder)
    assert (sent["status"], sent["deferred_until"]) == ("sent", ends)


async def test_outside_quiet_hours_a_reminder_goes_at_once(settings: Settings, smtp: tuple[Inbox, MailServer]) -> None:
    inbox, server = smtp
    later = datetime.now(SHANGHAI) + timedelta(hours=3)
    point_channels(settings, server, APPLIANCE_NOTIFICATIONS_QUIET_HOURS=f"{later:%H:%M}-{later + timedelta(hours=1):%H:%M}")

    reminder = await send(await book(), "booking_reminder")
    await deliver_everything()

    assert len(inbox.received) == 1 and (await message(reminder))["deferred_until"] is None


async def test_an_opted_out_customer_is_skipped_not_deferred(settings: Settings, smtp: tuple[Inbox, MailServer]) -> None:
    inbox, server = smtp
    quiet_now(settings, server)
    booking_id = await book()
    customer = await Booking.select(Booking.customer).where(Booking.id == booking_id).first()
    await opt_out(customer["customer"], "email", actor=cli_actor())

    reminder = await send(booking_id, "booking_reminder")
    await deliver_everything()

    held = await message(reminder)
    assert (held["status"], held["reason"], held["deferred_until"]) == ("skipped", "opted out", None)
    assert await Timer.count().where(Timer.name == DEFERRED_TIMER) == 0
