"""The seed articles' scenarios through the HTTP API on both engines, with the app's worker delivering:
a consultant who never works Wednesday afternoons and a room locked after each booking (schedules and
resource locks), a survey after completion and a payment reminder for completed unpaid bookings (the
default rules, with a real SMTP server). Two-level approval is in test_approvals.py."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from appliance.auth.actor import cli_actor
from appliance.automation.defaults import install_default_rules
from appliance.catalog.schemas import WEEKDAYS, RecurringBlock, Schedule
from appliance.core.clock import utc_now
from appliance.events.timers import fire_due_timers
from appliance.testing.builders import make_branch, make_resource, make_service, requirement, sign_in_as
from appliance.testing.deliveries import settle
from tests.appliance.notifications.conftest import smtp  # noqa: F401  (the fixture)
from tests.smtp_server import Inbox, MailServer

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVERY_DAY = {day: [("09:00", "18:00")] for day in WEEKDAYS}


def next_weekday(weekday: int) -> date:
    today = datetime.now(SHANGHAI).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7)


async def local_starts(client: httpx.AsyncClient, service_id: object, day: date, **params: str) -> list[str]:
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    response = await client.get("/api/v1/availability", params={
        "service_id": str(service_id), "from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat(), **params,
    })
    assert response.status_code == 200, response.text
    return [datetime.fromisoformat(s["starts_at"]).astimezone(SHANGHAI).strftime("%H:%M") for s in response.json()["slots"]]


async def test_consultant_a_never_works_wednesday_afternoons(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    never_wednesday_pm = Schedule(weekly=EVERY_DAY, blocks=[RecurringBlock(weekday="wed", start="12:00", end="18:00")])
    consultant_a = await make_resource(branch.id, name="顾问A", skills=["consulting"], schedule=never_wednesday_pm)
    await make_resource(branch.id, name="顾问B", skills=["consulting"])
    service = await make_service(branch.id, "咨询", 60, [requirement("staff", "consulting")], slot_step_minutes=60)
    await sign_in_as(client, "owner")

    wednesday, thursday = next_weekday(2), next_weekday(3)
    with_a_wednesday = await local_starts(client, service.id, wednesday, resource_id=str(consultant_a.id))
    with_a_thursday = await local_starts(client, service.id, thursday, resource_id=str(consultant_a.id))
    anyone_wednesday = await local_starts(client, service.id, wednesday)

    assert with_a_wednesday == ["09:00", "10:00", "11:00"]
    assert with_a_thursday == [f"{h:02d}:00" for h in range(9, 18)]
    assert anyone_wednesday == with_a_thursday  # consultant B takes the afternoon

    # Asking for A on a Wednesday afternoon anyway is refused; the morning, or anyone, is fine.
    afternoon = datetime(wednesday.year, wednesday.month, wednesday.day, 14, 0, tzinfo=SHANGHAI)
    with_a = await book(client, service.id, afternoon, [consultant_a.id], 1)
    assert with_a.status_code == 409 and with_a.json()["code"] == "slot_unavailable", with_a.text
    assert (await book(client, service.id, afternoon - timedelta(hours=4), [consultant_a.id], 2)).status_code == 201
    anyone = await book(client, service.id, afternoon, [], 3)
    assert anyone.status_code == 201 and anyone.json()["booking"]["resource_ids"] != [str(consultant_a.id)]


async def book(client: httpx.AsyncClient, service_id: object, at: datetime, resources: list[UUID], n: int) -> httpx.Response:
    return await client.post("/api/v1/bookings", json={
        "service_id": str(service_id), "starts_at": at.isoformat(), "resource_ids": [str(r) for r in resources],
        "customer": {"name": f"客户{n}", "phone": f"+8613800000{n:03d}", "email": f"guest{n}@example.com"},
    })


async def test_room_b_is_locked_two_hours_after_each_booking(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id, name="技师", skills=["massage"], capacity=2)
    room_a = await make_resource(branch.id, "room", "A房", ["spa"])
    room_b = await make_resource(branch.id, "room", "B房", ["spa"], post_use_lock_minutes=120)
    service = await make_service(
        branch.id, "精油按摩", 60, [requirement("staff", "massage"), requirement("room", "spa")], slot_step_minutes=60,
    )
    await sign_in_as(client, "owner")
    day = next_weekday(1)
    ten = datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)
    booked = await book(client, service.id, ten, [room_b.id], 1)
    assert booked.status_code == 201, booked.text

    in_b = await local_starts(client, service.id, day, resource_id=str(room_b.id))
    in_a = await local_starts(client, service.id, day, resource_id=str(room_a.id))

    # B is held 10:00–13:00 (the booking, then its lock); a 09:00 booking would lock B over it until 12:00.
    assert in_b == ["13:00", "14:00", "15:00", "16:00", "17:00"]
    assert in_a == [f"{h:02d}:00" for h in range(9, 18)]
    # The next booking in B is refused within the two hours after the first ends, and taken after them.
    within = await book(client, service.id, ten + timedelta(hours=2), [room_b.id], 2)
    assert within.status_code == 409 and within.json()["code"] == "slot_unavailable", within.text
    assert (await book(client, service.id, ten + timedelta(hours=3), [room_b.id], 3)).status_code == 201


async def test_completed_bookings_get_a_survey_and_unpaid_ones_await_payment_and_a_reminder(
    client: httpx.AsyncClient, smtp: tuple[Inbox, MailServer],
) -> None:
    inbox, _ = smtp
    await install_default_rules(actor=cli_actor())
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id, "精油按摩", price={"amount": 19800, "currency": "CNY"})
    await sign_in_as(client, "owner")
    day = datetime.now(SHANGHAI).date() + timedelta(days=3)
    three_pm = datetime(day.year, day.month, day.day, 15, 0, tzinfo=SHANGHAI)
    made = [await book(client, service.id, three_pm + timedelta(hours=2 * (n - 1)), [], n) for n in (1, 2)]
    assert [r.status_code for r in made] == [201, 201], made[0].text
    unpaid, paid = [r.json()["booking"]["id"] for r in made]

    for booking_id in (unpaid, paid):
        assert (await client.post(f"/api/v1/bookings/{booking_id}/complete")).status_code == 200
    await settle()
    awaiting = [(await client.get(f"/api/v1/bookings/{b}")).json()["payment_status"] for b in (unpaid, paid)]
    assert awaiting == ["awaiting_payment", "awaiting_payment"]
    assert (await client.post(f"/api/v1/bookings/{paid}/payment-status", json={"payment_status": "paid"})).status_code == 200
    await settle()

    assert await fire_due_timers(utc_now() + timedelta(hours=2, minutes=1)) == 2  # the surveys, 2 h after completion
    await settle()
    surveys = [m for m in inbox.received if m["Subject"] == "精油按摩体验如何？"]
    assert sorted(m["To"] for m in surveys) == ["guest1@example.com", "guest2@example.com"]
    link = re.search(r"/portal/survey/([A-Za-z0-9_-]+)", surveys[0].get_content())
    assert link is not None
    assert (await client.get(f"/api/v1/portal/surveys/{link[1]}")).json()["answered"] is False

    assert not [m for m in inbox.received if m["Subject"].startswith("付款提醒")]
    await fire_due_timers(utc_now() + timedelta(days=1, minutes=1))  # a day after payment became due
    await settle()
    reminders = [m for m in inbox.received if m["Subject"].startswith("付款提醒")]
    assert [m["To"] for m in reminders] == ["guest1@example.com"] and "¥198.00" in reminders[0]["Subject"]
