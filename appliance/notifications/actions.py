"""The only code that writes messages: queue one (a rule's notify action), and send it (the
`notifications` subscriber, through the delivery machinery's retries and dead letters).

Before sending, in this order: a channel nobody set up skips the message; a customer who opted out of
the channel, or has no address on it, skips it; a customer's non-urgent message due in quiet hours is
deferred to their end by a durable timer. Each outcome is recorded on the message."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from appliance.auth.actor import Actor
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.log import redact_text
from appliance.events.envelope import Envelope, Subject
from appliance.events.outbox import add_event
from appliance.events.subscribers import Permanent, Retryable, Subscriber, subscribe
from appliance.events.timers import FIRED_EVENT, schedule_timer
from appliance.notifications.catalogue import KEYS
from appliance.notifications.channels import Channel, NotSetUp, Outgoing, channel, public_url, quiet_hours
from appliance.notifications.consent import ONE_CLICK_PATH, UNSUBSCRIBE_PATH, unsubscribe_token
from appliance.notifications.queries import BookingFacts, booking_facts, opted_out, staff_recipients, stored_templates
from appliance.notifications.quiet import quiet_until
from appliance.notifications.tables import Message
from appliance.notifications.templates import DEFAULT_LOCALE, Rendered, TemplateProblem, render, template_for
from appliance.surveys.actions import SURVEY_PATH, invite

QUEUED = "message.queued"
DEFERRED_TIMER = "message.deferred"  # fires at the end of the quiet hours a message waits out
SURVEY_TEMPLATE = "survey_invitation"
SUBSCRIBER = "notifications"


async def queue_message(
    booking_id: UUID, *, channel_name: str, template: str, recipient: str, actor: Actor, rule_id: UUID | None = None,
    cause: UUID | None = None,
) -> UUID:
    """Log a message as queued and emit `message.queued`; joins the caller's transaction."""
    row = await Booking.select(Booking.customer).where(Booking.id == booking_id).first()
    message_id = uuid4()
    async with write_transaction():
        await Message.insert(Message(
            id=message_id, booking=booking_id, customer=row["customer"] if row else None, rule=rule_id, cause=cause,
            channel=channel_name, template=template, locale=DEFAULT_LOCALE, recipient=recipient, status="queued",
            created_at=utc_now(),
        ))
        await add_event(
            QUEUED, Subject("message", str(message_id)),
            {"message_id": str(message_id), "booking_id": str(booking_id), "channel": channel_name, "template": template},
            actor=actor,
        )
    return message_id


async def _settle(message_id: UUID, status: str, reason: str = "") -> None:
    values: dict[Any, Any] = {Message.status: status, Message.reason: redact_text(reason)[:500]}
    if status == "sent":
        values[Message.sent_at] = utc_now()
    await Message.update(values).where(Message.id == message_id)


async def _defer(message_id: UUID, until: datetime) -> None:
    """Hold the message until `until`; the timer and the record commit together."""
    async with write_transaction():
        await Message.update({
            Message.status: "deferred", Message.deferred_until: until, Message.reason: "quiet hours",
        }).where(Message.id == message_id)
        await schedule_timer(DEFERRED_TIMER, Subject("message", str(message_id)), until)


class _Skip(Exception):
    """Nothing to send, for a reason worth recording (opted out, no address, no staff)."""


async def _addresses(row: dict[str, Any], via: Channel, facts: BookingFacts) -> list[str]:
    if row["recipient"] != "customer":
        if via.address != "user":
            raise Permanent(f"{via.name} reaches customers, not {row['recipient']}")
        users = await staff_recipients(row["booking"], facts.branch_id, row["recipient"])
        if not users:
            raise _Skip(f"nobody is {row['recipient']} for this booking")
        return [str(user) for user in users]
    if via.address == "user":
        raise Permanent(f"{via.name} reaches staff, not customers")
    if facts.customer_id is None:
        raise _Skip("the booking has no customer")
    if await opted_out(facts.customer_id, via.name):
        raise _Skip("opted out")
    address = facts.email if via.address == "email" else facts.phone
    if not address:
        raise _Skip(f"the customer has no {'email address' if via.address == 'email' else 'phone number'}")
    return [address]


async def _render(row: dict[str, Any], facts: BookingFacts, unsubscribe_url: str | None) -> Rendered:
    found = template_for(row["template"], row["channel"], row["locale"], await stored_templates())
    if found is None:
        raise Permanent(f"no template {row['template']} for {row['channel']}")
    variables = dict(facts.variables)
    if unsubscribe_url:
        variables["unsubscribe"] = {"url": unsubscribe_url}
    if row["template"] == SURVEY_TEMPLATE:  # a fresh link per send; each stays valid until answered
        variables["survey"] = {"url": public_url() + SURVEY_PATH.format(token=await invite(row["booking"]))}
    try:
        return render(found, variables)
    except TemplateProblem as exc:
        raise Permanent(f"template {row['template']}: {exc}") from exc


async def send_message(message_id: UUID) -> str:
    """Send a queued message now: "sent", "skipped" (recorded why), "deferred" (quiet hours) or "already"
    (sent or settled before). Raises Retryable (it stays queued) or Permanent (it is marked failed)."""
    row = await Message.select().where(Message.id == message_id).first()
    if row is None or row["status"] not in ("queued", "deferred"):
        return "already"
    via = channel(row["channel"])
    try:
        if via is None:
            raise NotSetUp(f"channel not set up: no {row['channel']} integration is enabled")
        if row["booking"] is None or row["template"] not in KEYS:
            raise Permanent("the message has no booking or an unknown template")
        facts = await booking_facts(row["booking"])
        to_customer = row["recipient"] == "customer"
        addresses = await _addresses(row, via, facts)
        window = quiet_hours()
        if to_customer and window and not KEYS[row["template"]].urgent and row["deferred_until"] is None:
            if (until := quiet_until(utc_now(), facts.zone, window)) is not None:
                await _defer(message_id, until)
                return "deferred"
        token = await unsubscribe_token(facts.customer_id, via.name) if to_customer and facts.customer_id else None
        rendered = await _render(row, facts, public_url() + UNSUBSCRIBE_PATH.format(token=token) if token else None)
        one_click = public_url() + ONE_CLICK_PATH.format(token=token) if token else None
        for address in addresses:
            await via.send(Outgoing(
                message_id, address, rendered.subject, rendered.body, booking_id=row["booking"], unsubscribe_url=one_click,
            ))
    except (NotSetUp, _Skip) as exc:
        await _settle(message_id, "skipped", str(exc))
        return "skipped"
    except Permanent as exc:
        await _settle(message_id, "failed", str(exc))
        raise
    except Retryable as exc:
        await Message.update({Message.reason: redact_text(str(exc))[:500]}).where(Message.id == message_id)
        raise
    await _settle(message_id, "sent")
    return "sent"


def wants(envelope: Envelope) -> bool:
    return envelope.type == QUEUED or (envelope.type == FIRED_EVENT and envelope.data.get("name") == DEFERRED_TIMER)


async def _handle(envelope: Envelope) -> None:
    await send_message(UUID(envelope.subject.id))


subscribe(Subscriber(SUBSCRIBER, wants, _handle))
