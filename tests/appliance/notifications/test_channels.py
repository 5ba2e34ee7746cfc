"""The channel interface plugins implement: until one registers, SMS, WeCom and DingTalk messages are
recorded as skipped; a registered channel gets the address its `address` names and its Retryable,
Permanent and NotSetUp outcomes mean what they mean for email. Both engines."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.events.subscribers import Permanent, Retryable
from appliance.events.tables import Delivery
from appliance.notifications.actions import queue_message
from appliance.notifications.channels import Address, NotSetUp, Outgoing, register_channel, unregister_channel
from appliance.notifications.editing import save_template
from appliance.notifications.schemas import TemplateBody
from appliance.notifications.tables import Message
from appliance.testing.builders import make_user
from appliance.testing.deliveries import deliver_everything
from tests.appliance.notifications.support import book

pytestmark = pytest.mark.usefixtures("database")


class RecordingSms:
    """What an SMS plugin looks like to the appliance: a name, an address kind and `send`."""

    name = "sms"
    address: Address = "phone"

    def __init__(self, fails_with: Exception | None = None) -> None:
        self.sent: list[Outgoing] = []
        self.fails_with = fails_with

    async def send(self, outgoing: Outgoing) -> None:
        if self.fails_with is not None:
            raise self.fails_with
        self.sent.append(outgoing)


class RecordingWeCom(RecordingSms):
    name = "wecom"
    address: Address = "user"


@pytest.fixture(autouse=True)
def no_plugins() -> Iterator[None]:
    yield
    for name in ("sms", "wecom", "dingtalk"):
        unregister_channel(name)


async def logged(message_id: UUID) -> tuple[str, str]:
    row = await Message.select(Message.status, Message.reason).where(Message.id == message_id).first()
    return row["status"], row["reason"]


async def store_template(key: str, channel: str, body: str) -> None:
    """A template staff wrote for a channel without a built-in one, saved through the action."""
    await save_template(key, channel, "zh-CN", TemplateBody(body=body), actor=cli_actor())


async def sms_reminder(booking_id: UUID) -> UUID:
    return await queue_message(booking_id, channel_name="sms", template="booking_reminder", recipient="customer",
                               actor=cli_actor())


@pytest.mark.parametrize("channel", ["sms", "wecom", "dingtalk"])
async def test_a_channel_no_plugin_provides_is_skipped_and_recorded(channel: str) -> None:
    booking_id = await book()
    recipient = "customer" if channel == "sms" else "role:owner"
    template = "booking_reminder" if channel == "sms" else "staff_booking_notice"
    message_id = await queue_message(booking_id, channel_name=channel, template=template, recipient=recipient,
                                     actor=cli_actor())

    await deliver_everything()

    assert await logged(message_id) == ("skipped", f"channel not set up: no {channel} integration is enabled")
    assert await Delivery.count().where(Delivery.status == "dead") == 0


async def test_a_registered_sms_channel_gets_the_customers_phone_and_a_stored_template() -> None:
    sms = RecordingSms()
    register_channel(sms)
    booking_id = await book()
    await store_template("booking_reminder", "sms", "【静安店】{{ booking.starts_at }} {{ service.name }}")
    message_id = await sms_reminder(booking_id)

    await deliver_everything()

    [sent] = sms.sent
    assert (sent.to, sent.message_id, sent.booking_id) == ("+8613900000000", message_id, booking_id)
    assert sent.body.startswith("【静安店】") and sent.body.endswith(" 精油按摩")
    assert "/api/v1/portal/unsubscribe/" in (sent.unsubscribe_url or "")
    assert await logged(message_id) == ("sent", "")


async def test_a_registered_channel_without_a_template_fails_the_message() -> None:
    register_channel(RecordingSms())
    message_id = await sms_reminder(await book())

    await deliver_everything()

    assert await logged(message_id) == ("failed", "no template booking_reminder for sms")


@pytest.mark.parametrize(("raised", "status", "delivery"), [
    (Retryable("gateway busy"), "queued", "pending"),
    (Permanent("number refused"), "failed", "dead"),
    (NotSetUp("no SMS sender id configured"), "skipped", "done"),
])
async def test_a_plugins_outcomes_mean_retry_give_up_or_skip(raised: Exception, status: str, delivery: str) -> None:
    register_channel(RecordingSms(fails_with=raised))
    booking_id = await book()
    await store_template("booking_reminder", "sms", "{{ booking.time }}")
    message_id = await sms_reminder(booking_id)

    await deliver_everything()

    assert (await logged(message_id))[0] == status and str(raised) in (await logged(message_id))[1]
    row = await Delivery.select(Delivery.status).where(Delivery.subscriber == "notifications").first()
    assert row["status"] == delivery


async def test_a_staff_channel_gets_user_ids_to_map_and_never_a_customer() -> None:
    wecom = RecordingWeCom()
    register_channel(wecom)
    boss = await make_user("boss", Role.owner)
    booking_id = await book()
    await store_template("staff_booking_notice", "wecom", "{{ customer.name }} {{ booking.starts_at }}")
    to_staff = await queue_message(booking_id, channel_name="wecom", template="staff_booking_notice",
                                   recipient="role:owner", actor=cli_actor())
    to_customer = await queue_message(booking_id, channel_name="wecom", template="staff_booking_notice",
                                      recipient="customer", actor=cli_actor())

    await deliver_everything()

    assert [o.to for o in wecom.sent] == [str(boss.id)] and wecom.sent[0].unsubscribe_url is None
    assert await logged(to_staff) == ("sent", "")
    assert await logged(to_customer) == ("failed", "wecom reaches staff, not customers")
