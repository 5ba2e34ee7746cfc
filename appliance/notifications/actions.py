"""The only code that writes messages: queue one (a rule's notify action), and send it (the
`notifications` subscriber, through the delivery machinery's retries and dead letters).

Before sending, in this order: a channel nobody set up skips the message; a customer who opted out of
the channel, or has no address on it, skips it; a customer's non-urgent message due in quiet hours is
deferred to their end by a durable timer. Each outcome is recorded on the message.

A staff message may reach several people: each one's outcome is kept on the message as it happens, so a
retry sends only to those still waiting, and one person the channel cannot reach fails for them alone."""

from __future__ import annotations

from collections.abc import Callable
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
SENT = "sent"  # a staff recipient's outcome when the channel took the message; any other outcome says why not


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


def _reached(outcomes: dict[str, str]) -> int:
    return sum(why == SENT for why in outcomes.values())


def _shortfall(outcomes: dict[str, str], rest: str = "") -> str:
    """Whom a staff message did not reach and why, by user id (no names or addresses): the message's reason.
    `rest`: why it went no further, for those it was never tried for (it stopped part-way on a retry)."""
    missed = [f"{user}: {why}" for user, why in outcomes.items() if why != SENT]
    if rest:
        return "; ".join([f"reached {_reached(outcomes)}, then stopped: {rest}", *missed])
    if not missed:
        return ""
    if len(outcomes) == 1:  # one person: their reason alone, as a message with one address always had
        return next(iter(outcomes.values()))
    count = f"{len(missed)} of {len(outcomes)} not reached" if _reached(outcomes) else f"none of {len(outcomes)} reached"
    return f"{count}: " + "; ".join(missed)


async def _send_each(
    message_id: UUID, via: Channel, users: list[str], outgoing: Callable[[str], Outgoing], outcomes: dict[str, str]
) -> None:
    """Send to every user without an outcome in `outcomes` yet, recording each outcome on the message as it
    comes: a retry (Retryable, a crash, a timeout) then goes only to those still waiting. A Permanent is
    that person's alone; NotSetUp ends the round for everyone left (skipped if nobody got it)."""
    for user in users:
        if user in outcomes:
            continue
        try:
            await via.send(outgoing(user))
        except NotSetUp as exc:
            if not _reached(outcomes):
                raise
            outcomes.update({u: redact_text(str(exc))[:200] for u in users if u not in outcomes})
        except Permanent as exc:
            outcomes[user] = redact_text(str(exc))[:200]
        else:
            outcomes[user] = SENT
        await Message.update({Message.outcomes: outcomes}).where(Message.id == message_id)


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
    (sent or settled before). Raises Retryable (it stays queued) or Permanent (it is marked failed).

    A staff message is "sent" once anyone got it (the reason then says who was not reached and why) and
    "failed" when nobody could be reached."""
    row = await Message.select().where(Message.id == message_id).output(load_json=True).first()
    if row is None or row["status"] not in ("queued", "deferred"):
        return "already"
    via = channel(row["channel"])
    outcomes: dict[str, str] = dict(row["outcomes"] or {})  # staff recipients settled by earlier tries
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

        def outgoing(address: str) -> Outgoing:
            return Outgoing(message_id, address, rendered.subject, rendered.body, booking_id=row["booking"],
                            unsubscribe_url=one_click)

        if to_customer:  # one address, and a personal one: nothing per recipient to keep
            await via.send(outgoing(addresses[0]))
        else:
            await _send_each(message_id, via, addresses, outgoing, outcomes)
            if not _reached(outcomes):
                raise Permanent(_shortfall(outcomes))
    except (NotSetUp, _Skip, Permanent) as exc:
        if _reached(outcomes):  # a retry could go no further, but some already got it on an earlier try
            await _settle(message_id, "sent", _shortfall(outcomes, rest=str(exc)))
            return "sent"
        if isinstance(exc, Permanent) and not isinstance(exc, NotSetUp):
            await _settle(message_id, "failed", str(exc))
            raise
        await _settle(message_id, "skipped", str(exc))
        return "skipped"
    except Retryable as exc:
        await Message.update({Message.reason: redact_text(str(exc))[:500]}).where(Message.id == message_id)
        raise
    await _settle(message_id, "sent", _shortfall(outcomes))
    return "sent"


def wants(envelope: Envelope) -> bool:
    return envelope.type == QUEUED or (envelope.type == FIRED_EVENT and envelope.data.get("name") == DEFERRED_TIMER)


async def _handle(envelope: Envelope) -> None:
    await send_message(UUID(envelope.subject.id))


subscribe(Subscriber(SUBSCRIBER, wants, _handle))
