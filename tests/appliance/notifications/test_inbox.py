"""The staff inbox on both engines: messages to a booking's assigned staff or to a role land in each
person's own inbox once; each signed-in user lists (newest first, by cursor) and marks only their own."""

from __future__ import annotations

from uuid import UUID

import httpx
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.bookings.tables import Booking
from appliance.events import actions as events
from appliance.events.tables import Delivery
from appliance.notifications.actions import queue_message
from appliance.notifications.tables import InboxItem, Message
from appliance.testing.builders import make_branch, make_user, sign_in
from appliance.testing.deliveries import settle
from tests.appliance.notifications.support import book


async def notify_staff(booking_id: UUID, recipient: str) -> UUID:
    return await queue_message(
        booking_id, channel_name="inbox", template="staff_booking_notice", recipient=recipient, actor=cli_actor()
    )


async def inbox_of(client: httpx.AsyncClient, username: str, query: str = "") -> dict[str, object]:
    await sign_in(client, username)
    response = await client.get(f"/api/v1/inbox{query}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_message_to_the_assigned_staff_reaches_only_them_once(client: httpx.AsyncClient) -> None:
    wang = await make_user("wang.fang", Role.staff)
    await make_user("li.na", Role.staff)
    booking_id = await book(staff_user=wang.id)

    message_id = await notify_staff(booking_id, "assigned_staff")
    await settle()
    # A redelivered message.queued event adds nothing.
    delivery = await Delivery.select(Delivery.id).where(Delivery.subscriber == "notifications").first()
    await Delivery.update({Delivery.status: "pending"}).where(Delivery.id == delivery["id"])
    await events.deliver(delivery["id"])

    mine = await inbox_of(client, "wang.fang")
    [item] = mine["items"]  # type: ignore[misc]
    assert item["subject"].startswith("预约：精油按摩") and "韩梅梅" in item["body"] and item["read_at"] is None
    assert item["booking_id"] == str(booking_id)
    assert (await inbox_of(client, "li.na"))["items"] == []
    logged = await Message.select(Message.status).where(Message.id == message_id).first()
    assert logged["status"] == "sent" and await InboxItem.count() == 1


async def test_a_message_to_a_role_reaches_its_holders_in_the_booking_branch_and_everywhere(
    client: httpx.AsyncClient,
) -> None:
    booking_id = await book()
    branch = await Booking.select(Booking.branch).where(Booking.id == booking_id).first()
    elsewhere = await make_branch("徐汇店")
    await make_user("here", Role.manager, branch_id=branch["branch"])
    await make_user("everywhere", Role.manager)
    await make_user("there", Role.manager, branch_id=elsewhere.id)
    await make_user("desk", Role.front_desk, branch_id=branch["branch"])

    await notify_staff(booking_id, "role:manager")
    await settle()

    for username, count in (("here", 1), ("everywhere", 1), ("there", 0), ("desk", 0)):
        assert len((await inbox_of(client, username))["items"]) == count, username  # type: ignore[arg-type]


async def test_nobody_to_reach_is_recorded_as_skipped(client: httpx.AsyncClient) -> None:
    booking_id = await book()  # its staff member is no user

    message_id = await notify_staff(booking_id, "assigned_staff")
    await settle()

    logged = await Message.select(Message.status, Message.reason).where(Message.id == message_id).first()
    assert (logged["status"], logged["reason"]) == ("skipped", "nobody is assigned_staff for this booking")


async def test_the_inbox_pages_newest_first_and_marks_read_only_ones_own(client: httpx.AsyncClient) -> None:
    boss = await make_user("boss", Role.owner)
    await make_user("other", Role.owner)
    booking_id = await book()
    for _ in range(3):
        await notify_staff(booking_id, "role:owner")
    await settle()
    items = await InboxItem.select(InboxItem.id, InboxItem.user).order_by(InboxItem.created_at, ascending=False)
    boss_items = [r["id"] for r in items if r["user"] == boss.id]
    others = [r["id"] for r in items if r["user"] != boss.id]

    first = await inbox_of(client, "boss", "?limit=2")
    assert [i["id"] for i in first["items"]] == [str(i) for i in boss_items[:2]]  # type: ignore[attr-defined]
    rest = (await client.get(f"/api/v1/inbox?limit=2&cursor={first['next_cursor']}")).json()
    assert [i["id"] for i in rest["items"]] == [str(boss_items[2])] and rest["next_cursor"] is None

    read = await client.post(f"/api/v1/inbox/{boss_items[0]}/read", headers={"X-CSRF-Token": await csrf(client)})
    assert read.status_code == 200 and read.json()["read_at"] is not None
    unread = (await client.get("/api/v1/inbox?unread=true")).json()["items"]
    assert [i["id"] for i in unread] == [str(i) for i in boss_items[1:]]

    foreign = await client.post(f"/api/v1/inbox/{others[0]}/read", headers={"X-CSRF-Token": await csrf(client)})
    assert foreign.status_code == 404
    assert await InboxItem.count().where(InboxItem.read_at.is_not_null()) == 1


async def test_the_inbox_needs_a_signed_in_user_and_a_real_cursor(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/inbox")).status_code == 401
    await make_user("boss", Role.owner)
    bad = await inbox_of_raw(client, "boss", "?cursor=!!")
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["cursor"]


async def inbox_of_raw(client: httpx.AsyncClient, username: str, query: str) -> httpx.Response:
    await sign_in(client, username)
    return await client.get(f"/api/v1/inbox{query}")


async def csrf(client: httpx.AsyncClient) -> str:
    token: str = (await client.get("/api/v1/auth/me")).json()["csrf_token"]
    return token

