"""The only code that writes messages: queue one (a rule's notify action), and send it (the
`notifications` subscriber, through the delivery machinery's retries and dead letters)."""

from __future__ import annotations

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
from appliance.notifications.channels import NotSetUp, Outgoing, channel, public_url
from appliance.notifications.queries import booking_variables
from appliance.notifications.tables import Message
from appliance.notifications.templates import DEFAULT_LOCALE, TemplateProblem, render, template_for
from appliance.surveys.actions import SURVEY_PATH, invite

QUEUED = "message.queued"
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


async def send_message(message_id: UUID) -> str:
    """Send a queued message now: "sent", "skipped" (nothing to send to), or "already" (sent before).
    Raises Retryable (it stays queued) or Permanent (it is marked failed)."""
    row = await Message.select().where(Message.id == message_id).first()
    if row is None or row["status"] != "queued":
        return "already"
    if row["recipient"] != "customer" or row["booking"] is None:
        await _settle(message_id, "failed", f"recipient {row['recipient']} is not available yet")
        raise Permanent(f"recipient {row['recipient']} is not available yet")
    variables, email = await booking_variables(row["booking"])
    if not email:
        await _settle(message_id, "skipped", "the customer has no email address")
        return "skipped"
    found = template_for(row["template"], row["channel"], row["locale"])
    via = channel(row["channel"])
    try:
        if found is None:
            raise Permanent(f"no template {row['template']} for {row['channel']}")
        if via is None:
            raise Permanent(f"channel {row['channel']} is not configured")
        if row["template"] == SURVEY_TEMPLATE:  # a fresh link per send; each stays valid until answered
            token = await invite(row["booking"])
            variables["survey"] = {"url": public_url() + SURVEY_PATH.format(token=token)}
        try:
            rendered = render(found, variables)
        except TemplateProblem as exc:
            raise Permanent(f"template {row['template']}: {exc}") from exc
        await via.send(Outgoing(message_id, email, rendered.subject, rendered.body))
    except NotSetUp as exc:
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


async def _handle(envelope: Envelope) -> None:
    await send_message(UUID(envelope.subject.id))


subscribe(Subscriber(SUBSCRIBER, lambda e: e.type == QUEUED, _handle))
