"""The seed articles' scenarios that schedules and resource locks express, through the HTTP API on both
engines (the rule-driven ones are in test_engine.py and notifications/test_default_rules.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from appliance.catalog.schemas import WEEKDAYS, RecurringBlock, Schedule
from appliance.testing.builders import make_branch, make_resource, make_service, requirement, sign_in_as

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


async def test_room_b_is_locked_two_hours_after_each_booking(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id, name="技师", skills=["massage"], capacity=2)
    room_a = await make_resource(branch.id, "room", "A房", ["spa"])
    room_b = await make_resource(branch.id, "room", "B房", ["spa"], post_use_lock_minutes=120)
    service = await make_service(
        branch.id, "精油按摩", 60, [requirement("staff", "massage"), requirement("room", "spa")], slot_step_minutes=60,
    )
    me = await sign_in_as(client, "owner")
    day = next_weekday(1)
    booked = await client.post("/api/v1/bookings", headers={"X-CSRF-Token": me["csrf_token"]}, json={
        "service_id": str(service.id), "resource_ids": [str(room_b.id)],
        "starts_at": datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI).isoformat(),
        "customer": {"name": "李雷", "phone": "+8613800000001"},
    })
    assert booked.status_code == 201, booked.text

    in_b = await local_starts(client, service.id, day, resource_id=str(room_b.id))
    in_a = await local_starts(client, service.id, day, resource_id=str(room_a.id))

    # B is held 10:00–13:00 (the booking, then its lock); a 09:00 booking would lock B over it until 12:00.
    assert in_b == ["13:00", "14:00", "15:00", "16:00", "17:00"]
    assert in_a == [f"{h:02d}:00" for h in range(9, 18)]
