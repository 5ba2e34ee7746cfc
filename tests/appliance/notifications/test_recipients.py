"""A staff message to several people, through a plugin channel whose vendor refuses or delays some of them:
each person's outcome is their own, a retry reaches only those still waiting, and the message is sent
when anyone got it and failed when nobody could be reached. Both engines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any
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


class WeCom:
    """What a WeCom plugin looks like to the appliance; its vendor answers chosen people with failures,
    one per call, before taking their message."""

    name = "wecom"
    address: Address = "user"

    def __init__(self) -> None:
        self.tried: list[str] = []
        self.sent: list[Outgoing] = []
        self.failures: dict[str, list[Exception]] = {}

    async def send(self, outgoing: Outgoing) -> None:
        self.tried.append(outgoing.to)
        if self.failures.get(outgoing.to):
            raise self.failures[outgoing.to].pop(0)
        self.sent.append(outgoing)


@pytest.fixture
def wecom() -> Iterator[WeCom]:
    channel = WeCom()
    register_channel(channel)
    yield channel
    unregister_channel("wecom")


async def notify_owners() -> tuple[UUID, list[str]]:
    """A staff notice to the three owners, queued; with the owners' user ids in the order they are sent to."""
    owners = [await make_user(name, Role.owner) for name in ("wang.fang", "li.na", "zhang.wei")]
    booking_id = await book()
    await save_template("staff_booking_notice", "wecom", "zh-CN", TemplateBody(body="{{ customer.name }} 预约了"),
                        actor=cli_actor())
    message_id = await queue_message(booking_id, channel_name="wecom", template="staff_booking_notice",
                                     recipient="role:owner", actor=cli_actor())
    return message_id, sorted(str(o.id) for o in owners)


async def logged(message_id: UUID) -> dict[str, Any]:
    row = await Message.select(Message.status, Message.reason, Message.outcomes).where(
        Message.id == message_id
    ).output(load_json=True).first()
    assert row is not None
    return row


async def delivery_status() -> str:
    row = await Delivery.select(Delivery.status).where(Delivery.subscriber == "notifications").first()
    assert row is not None
    status: str = row["status"]
    return status


async def retry_now() -> None:
    """The message's delivery, waiting for a retry, tried as when it falls due."""
    await Delivery.update({Delivery.next_attempt_at: None}).where(Delivery.subscriber == "notifications")
    await deliver_everything()


async def test_a_person_the_channel_cannot_reach_does_not_stop_the_others(wecom: WeCom) -> None:
    message_id, (first, second, third) = await notify_owners()
    wecom.failures[first] = [Permanent("no WeCom account linked")]

    await deliver_everything()

    assert [o.to for o in wecom.sent] == [second, third]
    assert [o.idempotency_key for o in wecom.sent] == [f"{message_id}:{second}", f"{message_id}:{third}"]
    row = await logged(message_id)
    assert (row["status"], row["reason"]) == ("sent", f"1 of 3 not reached: {first}: no WeCom account linked")
    assert row["outcomes"] == {first: "no WeCom account linked", second: "sent", third: "sent"}
    assert await delivery_status() == "done"


async def test_a_retry_reaches_only_those_still_waiting(wecom: WeCom) -> None:
    message_id, (first, second, third) = await notify_owners()
    wecom.failures[second] = [Retryable("WeCom 503, retry later")]

    assert "retry" in await deliver_everything()
    row = await logged(message_id)
    assert (row["status"], row["reason"], row["outcomes"]) == ("queued", "WeCom 503, retry later", {first: "sent"})

    await retry_now()

    assert Counter(o.to for o in wecom.sent) == {first: 1, second: 1, third: 1}
    row = await logged(message_id)
    assert (row["status"], row["reason"]) == ("sent", "")


async def test_a_message_that_reaches_nobody_fails(wecom: WeCom) -> None:
    message_id, owners = await notify_owners()
    for user in owners:
        wecom.failures[user] = [Permanent(f"user {user} left the company")]

    await deliver_everything()

    assert wecom.tried == owners and wecom.sent == []
    row = await logged(message_id)
    assert row["status"] == "failed"
    assert row["reason"] == "none of 3 reached: " + "; ".join(f"{u}: user {u} left the company" for u in owners)
    assert await delivery_status() == "dead"


async def test_a_channel_not_set_up_part_way_leaves_the_message_sent_to_those_reached(wecom: WeCom) -> None:
    message_id, (first, second, third) = await notify_owners()
    wecom.failures[second] = [NotSetUp("WeCom is not set up: no corp secret")]

    await deliver_everything()

    assert [o.to for o in wecom.sent] == [first]
    row = await logged(message_id)
    assert row["status"] == "sent"
    not_set_up = "WeCom is not set up: no corp secret"
    assert row["reason"] == f"2 of 3 not reached: {second}: {not_set_up}; {third}: {not_set_up}"


async def test_a_channel_gone_before_the_retry_leaves_the_message_sent_to_those_reached(wecom: WeCom) -> None:
    message_id, (first, second, _) = await notify_owners()
    wecom.failures[second] = [Retryable("WeCom 503, retry later")]
    await deliver_everything()

    unregister_channel("wecom")  # the plugin was disabled before the retry came
    await retry_now()

    assert [o.to for o in wecom.sent] == [first]
    row = await logged(message_id)
    assert row["status"] == "sent"
    assert row["reason"] == "reached 1, then stopped: channel not set up: no wecom integration is enabled"
