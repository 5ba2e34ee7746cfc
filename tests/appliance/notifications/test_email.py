"""Email notifications end to end on both engines: a rule's notify action, the communication log, a real
SMTP server (aiosmtpd on 127.0.0.1) that receives, refuses or is down."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.auth.actor import cli_actor
from appliance.automation.actions import create_rule
from appliance.automation.schemas import RuleCreate
from appliance.events import actions as events
from appliance.events.tables import Delivery
from appliance.notifications.channels import configure_channels
from appliance.notifications.tables import Message
from appliance.settings import Settings
from appliance.testing.deliveries import deliver_everything
from tests.appliance.notifications.support import book
from tests.smtp_server import Inbox, MailServer

pytestmark = pytest.mark.usefixtures("database")


async def confirmation_rule() -> None:
    await create_rule(RuleCreate(
        name="预约确认邮件", trigger={"event": "booking.created"},
        actions=[{"type": "notify", "channel": "email", "template": "booking_confirmation", "recipient": "customer"}],
    ), actor=cli_actor())


async def messages() -> list[dict[str, Any]]:
    return await Message.select().order_by(Message.created_at)


async def test_a_booking_confirmation_is_emailed_once_and_logged(smtp: tuple[Inbox, MailServer]) -> None:
    inbox, _ = smtp
    await confirmation_rule()
    booking_id = await book("han.meimei@example.com")

    await deliver_everything()
    await deliver_everything()  # nothing left: no second email

    [mail] = inbox.received
    [logged] = await messages()
    assert mail["To"] == "han.meimei@example.com" and "noreply@shop.example" in mail["From"]
    assert mail["Subject"].startswith("预约确认：精油按摩") and "14:30" in mail["Subject"]
    assert "韩梅梅，您好" in mail.get_content() and "静安店" in mail.get_content()
    assert mail["Message-ID"] == f"<{logged['id']}@book.shop.example>"
    assert (logged["status"], logged["booking"], logged["template"]) == ("sent", booking_id, "booking_confirmation")
    assert logged["sent_at"] is not None
    # A redelivered message.queued event does not send it again.
    delivery = await Delivery.select(Delivery.id).where(Delivery.subscriber == "notifications").first()
    await Delivery.update({Delivery.status: "pending"}).where(Delivery.id == delivery["id"])
    assert await events.deliver(delivery["id"]) == "done"
    assert len(inbox.received) == 1


async def test_a_customer_without_email_is_skipped_with_the_reason(smtp: tuple[Inbox, MailServer]) -> None:
    inbox, _ = smtp
    await confirmation_rule()
    await book(None)

    await deliver_everything()

    assert inbox.received == []
    [logged] = await messages()
    assert (logged["status"], logged["reason"]) == ("skipped", "the customer has no email address")


async def test_a_mail_server_that_is_down_gets_the_message_later_exactly_once(smtp: tuple[Inbox, MailServer]) -> None:
    inbox, server = smtp
    await confirmation_rule()
    await book("han.meimei@example.com")
    server.stop()

    assert "retry" in await deliver_everything()
    [logged] = await messages()
    assert logged["status"] == "queued" and "ConnectionRefusedError" in logged["reason"]

    server.start()
    waiting = await Delivery.select(Delivery.id).where(Delivery.subscriber == "notifications").first()
    await Delivery.update({Delivery.next_attempt_at: None}).where(Delivery.id == waiting["id"])  # as when due
    await deliver_everything()
    assert len(inbox.received) == 1 and (await messages())[0]["status"] == "sent"


async def test_a_refused_message_fails_for_good_and_its_delivery_is_dead(smtp: tuple[Inbox, MailServer]) -> None:
    inbox, _ = smtp
    inbox.refuse_with = "554 5.7.1 Message rejected"
    await confirmation_rule()
    await book("han.meimei@example.com")

    await deliver_everything()

    [logged] = await messages()
    assert logged["status"] == "failed" and "554" in logged["reason"]
    delivery = await Delivery.select(Delivery.status).where(Delivery.subscriber == "notifications").first()
    assert delivery["status"] == "dead"


async def test_without_a_mail_server_set_up_messages_are_skipped_not_dead(settings: Settings) -> None:
    configure_channels(settings)  # no APPLIANCE_SMTP_HOST
    await confirmation_rule()
    await book("han.meimei@example.com")

    await deliver_everything()

    [logged] = await messages()
    assert logged["status"] == "skipped" and "APPLIANCE_SMTP_HOST" in logged["reason"]
    assert await Delivery.count().where(Delivery.status == "dead") == 0
