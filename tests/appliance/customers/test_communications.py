"""The communication log on both engines: messages sent to the customer and calls, visits and messages
staff logged, newest first, paged by cursor, in the 360 view; logging is audited; bad input changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID

import httpx

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.bookings.tables import Booking
from appliance.customers.queries import booking_messages, contacts_of
from appliance.customers.tables import Customer, CustomerInteraction
from appliance.notifications.actions import queue_message
from appliance.notifications.tables import Message
from appliance.testing.builders import make_branch, make_resource, make_service, sign_in_as
from tests.appliance.customers.support import audit_of, book, customer_of, one_customer, shop
from tests.appliance.notifications.support import problems

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


async def test_the_log_merges_messages_sent_and_what_staff_logged_newest_first_in_pages(client: httpx.AsyncClient) -> None:
    place = await shop()
    booking_id = await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "desk", Role.front_desk)
    customer_id = (await customer_of(client, 1))["id"]
    path = f"/api/v1/customers/{customer_id}"
    message_id = await queue_message(booking_id, channel_name="email", template="booking_reminder", recipient="customer",
                                     actor=cli_actor())
    await Message.update({Message.created_at: T0 + timedelta(hours=2)}).where(Message.customer == UUID(customer_id))
    for kind, hours in (("call", 1), ("visit", 3), ("message", 4)):
        logged = await client.post(f"{path}/interactions", json={
            "kind": kind, "note": f"{kind} note", "at": (T0 + timedelta(hours=hours)).astimezone(timezone(timedelta(hours=8))).isoformat(),
        })
        assert logged.status_code == 201, logged.text
        assert (logged.json()["source"], logged.json()["kind"], logged.json()["note"]) == ("staff", kind, f"{kind} note")

    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        page = (await client.get(f"{path}/communications", params={"limit": "2", **({"cursor": cursor} if cursor else {})})).json()
        seen += [(e["source"], e["kind"]) for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break

    messages = await Message.select(Message.id).where(Message.customer == UUID(customer_id))
    assert message_id in [m["id"] for m in messages]
    expected = [("staff", "message"), ("staff", "visit")] + [("notification", "message")] * len(messages) + [("staff", "call")]
    assert seen == expected
    view = await customer_of(client, 1)
    assert [(e["source"], e["kind"]) for e in view["communications"]] == expected
    sent = next(e for e in view["communications"] if e["id"] == str(message_id))
    assert (sent["channel"], sent["template"], sent["booking_id"]) == ("email", "booking_reminder", str(booking_id))
    assert [e["details"]["kind"] for e in await audit_of(customer_id) if e["action"] == "customer.interaction_logged"] == [
        "call", "visit", "message",
    ]


async def test_bad_interactions_are_422_naming_the_field_and_change_nothing(client: httpx.AsyncClient) -> None:
    path = f"/api/v1/customers/{await one_customer(client)}/interactions"
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()

    assert "kind" in next(iter(problems(await client.post(path, json={"kind": "fax"}))))
    assert problems(await client.post(path, json={"kind": "call", "at": future})) == {"at": "not in the future"}
    assert "at" in problems(await client.post(path, json={"kind": "call", "at": "2026-11-20T10:00:00"}))
    assert await CustomerInteraction.count() == 0


async def test_staff_without_customers_write_cannot_log(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client, Role.owner)
    await sign_in_as(client, "therapist", Role.staff)

    assert (await client.post(f"/api/v1/customers/{customer_id}/interactions", json={"kind": "call"})).status_code == 403
    assert (await client.get(f"/api/v1/customers/{customer_id}/communications")).status_code == 403
    assert await CustomerInteraction.count() == 0


async def test_a_booking_s_messages_and_its_customer_s_contact_are_read_for_the_booking_pages(client: httpx.AsyncClient) -> None:
    place = await shop()
    booking_id = await book(place.service_id, 2, 10, 1)
    other = await book(place.service_id, 2, 12, 2)
    first = await queue_message(booking_id, channel_name="email", template="booking_reminder", recipient="customer",
                                actor=cli_actor())
    await queue_message(other, channel_name="email", template="booking_reminder", recipient="customer", actor=cli_actor())

    sent = await booking_messages(booking_id)
    assert [(m.id, m.template, m.booking_id) for m in sent] == [(first, "booking_reminder", booking_id)]
    customer_id = (await Booking.select(Booking.customer).where(Booking.id == booking_id).first())["customer"]
    contacts = await contacts_of([customer_id, customer_id])
    assert list(contacts) == [customer_id] and contacts[customer_id].phone is not None
    assert await contacts_of([]) == {}


async def test_staff_of_one_branch_see_nothing_of_the_customers_doings_in_another(client: httpx.AsyncClient) -> None:
    place = await shop()
    here = await book(place.service_id, 2, 10, 1)
    elsewhere_branch = await make_branch("徐汇店")
    await make_resource(elsewhere_branch.id, name="李娜", skills=["massage"])
    elsewhere_service = await make_service(elsewhere_branch.id, "足疗", 60)
    there = await book(elsewhere_service.id, 3, 10, 1)
    for booking_id in (here, there):
        await queue_message(booking_id, channel_name="email", template="booking_reminder", recipient="customer",
                            actor=cli_actor())
    customer = (await Booking.select(Booking.customer).where(Booking.id == here).first() or {})["customer"]
    await Customer.update({Customer.favourite_service: elsewhere_service.id}).where(Customer.id == customer)
    await sign_in_as(client, "desk", Role.front_desk, branch_id=place.branch_id)

    log = (await client.get(f"/api/v1/customers/{customer}/communications")).json()["items"]
    view = await customer_of(client, 1)

    assert {e["booking_id"] for e in log if e["source"] == "notification"} == {str(here)}
    assert {e["booking_id"] for e in view["communications"] if e["source"] == "notification"} == {str(here)}
    assert view["facts"]["favourite_service"] is None  # it would name the other branch's service
    assert {b["id"] for b in view["recent_bookings"]} == {str(here)}
