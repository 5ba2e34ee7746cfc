"""Customers' opt-outs on both engines, with a real SMTP server: an opted-out customer gets nothing on that
channel (recorded as skipped, "opted out"); staff set opt-outs through the API within their branches,
audited; the signed link in every customer email opts out without signing in, and a forged one does nothing."""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import UUID

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.bookings.tables import Booking
from appliance.notifications.actions import queue_message
from appliance.notifications.consent import opt_out
from appliance.customers.tables import CustomerConsent
from appliance.notifications.tables import Message
from appliance.testing.builders import make_branch, sign_in_as
from appliance.testing.deliveries import settle
from tests.appliance.notifications.support import book, problems
from tests.smtp_server import Inbox, MailServer


async def remind(booking_id: UUID) -> UUID:
    return await queue_message(booking_id, channel_name="email", template="booking_reminder", recipient="customer",
                               actor=cli_actor())


async def customer_of(booking_id: UUID) -> UUID:
    row = await Booking.select(Booking.customer).where(Booking.id == booking_id).first()
    return UUID(str(row["customer"]))


async def logged(message_id: UUID) -> tuple[str, str]:
    row = await Message.select(Message.status, Message.reason).where(Message.id == message_id).first()
    return row["status"], row["reason"]


async def test_an_opted_out_customer_gets_no_email_and_the_skip_is_recorded(
    client: httpx.AsyncClient, smtp: tuple[Inbox, MailServer]
) -> None:
    inbox, _ = smtp
    booking_id = await book()
    await opt_out(await customer_of(booking_id), "email", actor=cli_actor())

    message_id = await remind(booking_id)
    await settle()

    assert inbox.received == [] and await logged(message_id) == ("skipped", "opted out")


async def test_staff_opt_a_customer_out_and_in_again_audited(client: httpx.AsyncClient) -> None:
    booking_id = await book()
    customer_id = await customer_of(booking_id)
    await sign_in_as(client, "desk", Role.front_desk)  # every branch
    path = f"/api/v1/customers/{customer_id}/opt-outs"

    assert (await client.put(f"{path}/email")).json()["channels"] == ["email"]
    assert (await client.put(f"{path}/sms")).json()["channels"] == ["email", "sms"]
    assert (await client.put(f"{path}/sms")).status_code == 200  # again: nothing new
    assert (await client.delete(f"{path}/email")).json()["channels"] == ["sms"]
    assert (await client.get(path)).json() == {"customer_id": str(customer_id), "channels": ["sms"]}

    actions = await AuditEntry.select(AuditEntry.action, AuditEntry.details).where(
        (AuditEntry.target_id == str(customer_id)) & (AuditEntry.action == "customer.consent_changed")
    ).order_by(AuditEntry.occurred_at).output(load_json=True)
    assert [a["details"]["consent"] for a in actions] == [{"email": False}, {"sms": False}, {"email": True}]


async def test_an_unknown_channel_is_a_422_naming_it_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    customer_id = await customer_of(await book())
    await sign_in_as(client, "desk", Role.front_desk)

    assert list(problems(await client.put(f"/api/v1/customers/{customer_id}/opt-outs/fax"))) == ["channel"]
    assert await CustomerConsent.count() == 0
    assert await AuditEntry.count().where(AuditEntry.action == "customer.consent_changed") == 0


async def test_staff_reach_only_customers_of_their_branches_and_need_the_permission(client: httpx.AsyncClient) -> None:
    customer_id = await customer_of(await book())
    elsewhere = await make_branch("徐汇店")
    path = f"/api/v1/customers/{customer_id}/opt-outs"

    await sign_in_as(client, "far-desk", Role.front_desk, branch_id=elsewhere.id)
    assert (await client.put(f"{path}/email")).status_code == 404
    assert (await client.get(path)).status_code == 404
    # The consent route writes the same records: it keeps to the same reach.
    consent = await client.patch(f"/api/v1/customers/{customer_id}/consent", json={"consent": {"email": False}})
    assert consent.status_code == 404
    await sign_in_as(client, "staff", Role.staff)
    assert (await client.put(f"{path}/email")).status_code == 403
    assert await CustomerConsent.count() == 0


async def test_the_link_in_an_email_opts_the_customer_out_once_and_a_forged_one_does_nothing(
    client: httpx.AsyncClient, smtp: tuple[Inbox, MailServer]
) -> None:
    inbox, _ = smtp
    booking_id = await book()
    await remind(booking_id)
    await settle()
    [mail] = inbox.received
    one_click = urlsplit(mail["List-Unsubscribe"].strip("<>"))
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = one_click.path.rsplit("/", 1)[1]
    assert f"https://book.shop.example/portal/unsubscribe/{token}" in mail.get_content()

    assert (await client.get(one_click.path)).json() == {"channel": "email", "opted_out": False}
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await client.post(f"/api/v1/portal/unsubscribe/{forged}")).status_code == 404
    assert (await client.post(f"/api/v1/portal/unsubscribe/{token.replace('.email.', '.sms.')}")).status_code == 404
    assert await CustomerConsent.count() == 0

    # A mail client's one-click POST (RFC 8058) carries a form body; twice is fine.
    for _ in range(2):
        done = await client.post(one_click.path, content=b"List-Unsubscribe=One-Click",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200 and done.json() == {"channel": "email", "opted_out": True}
    [entry] = await AuditEntry.select(AuditEntry.actor_kind, AuditEntry.auth_method).where(
        AuditEntry.action == "customer.consent_changed"
    )
    assert (entry["actor_kind"], entry["auth_method"]) == ("customer", "unsubscribe_link")

    message_id = await remind(booking_id)
    await settle()
    assert len(inbox.received) == 1 and await logged(message_id) == ("skipped", "opted out")
