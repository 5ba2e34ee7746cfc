"""Bookings through the HTTP API, on both engines: create, idempotency, races, transitions, reschedule."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.schemas import Schedule, ScheduleException
from appliance.customers.tables import Customer
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_branch, make_resource, make_service, make_user, sign_in
from tests.appliance.reports.statements import counted_statements

SHANGHAI = ZoneInfo("Asia/Shanghai")


def next_weekday(weekday: int, tz: ZoneInfo = SHANGHAI, *, weeks_ahead: int = 1) -> date:
    """A date of that weekday (0 = Monday) at least a week from today in `tz`."""
    today = datetime.now(tz).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)


def at(day: date, hhmm: str, tz: ZoneInfo = SHANGHAI) -> str:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).isoformat()


def customer(n: int = 0) -> dict[str, str]:
    return {"name": f"李雷{n}", "phone": f"+86138{n:08d}", "email": f"li{n}@example.com"}


def one_day_schedule(day: date, start: str, end: str) -> Schedule:
    """Open only on `day`, from start to end."""
    return Schedule(weekly={}, exceptions=[ScheduleException(date=day, intervals=[(start, end)])])


class Shop:
    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    async def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return await self.client.post(path, json=body, headers={"X-CSRF-Token": self.csrf, **headers})

    async def book(self, service_id: Any, starts_at: str, n: int = 0, **extra: Any) -> httpx.Response:
        body = {"service_id": str(service_id), "starts_at": starts_at, "customer": customer(n), **extra}
        return await self.post("/api/v1/bookings", body)


@pytest.fixture
async def shop(client: httpx.AsyncClient) -> Shop:
    await make_user("desk", Role.owner)
    me = await sign_in(client, "desk")
    return Shop(client, me["csrf_token"])


async def test_booking_a_staff_and_room_service_takes_both_and_is_audited(shop: Shop) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    room = await make_resource(branch.id, kind="room", name="VIP 1", skills=["vip"])
    service = await make_service(
        branch.id, name="精油按摩", duration_minutes=60, buffer_after_minutes=15,
        requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}, {"kind": "room", "skills": ["vip"], "count": 1}],
    )
    day = next_weekday(0)

    response = await shop.book(service.id, at(day, "10:00"))

    assert response.status_code == 201, response.text
    body = response.json()
    booking = body["booking"]
    assert booking["status"] == "confirmed"
    assert set(booking["resource_ids"]) == {str(wang.id), str(room.id)}
    assert datetime.fromisoformat(booking["ends_at"]) - datetime.fromisoformat(booking["starts_at"]) == timedelta(hours=1)
    assert len(body["manage_token"]) >= 32
    allocations = await Allocation.select().where(Allocation.booking == booking["id"])
    assert len(allocations) == 2
    assert all(a["ends_at"] - a["starts_at"] == timedelta(minutes=75) for a in allocations)
    assert await AuditEntry.count().where(AuditEntry.action == "booking.created") == 1
    assert await OutboxEvent.count().where(OutboxEvent.type == "booking.created") == 1
    stored = await Booking.select(Booking.manage_token_hash).first()
    assert body["manage_token"] not in str(stored)


async def test_the_same_customer_phone_is_matched_not_duplicated(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"], capacity=2)
    service = await make_service(branch.id, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    day = next_weekday(1)

    first = await shop.book(service.id, at(day, "10:00"), n=7)
    second = await shop.book(service.id, at(day, "14:00"), n=7)

    assert first.status_code == second.status_code == 201
    assert first.json()["booking"]["customer_id"] == second.json()["booking"]["customer_id"]
    assert await Customer.count() == 1


async def test_idempotency_key_replays_the_first_result_and_refuses_another_body(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    day = next_weekday(2)
    body = {"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(1)}

    first = await shop.post("/api/v1/bookings", body, **{"Idempotency-Key": "order-42"})
    replay = await shop.post("/api/v1/bookings", body, **{"Idempotency-Key": "order-42"})
    other = await shop.post("/api/v1/bookings", {**body, "starts_at": at(day, "11:00")}, **{"Idempotency-Key": "order-42"})

    assert first.status_code == 201 and replay.status_code == 201
    assert replay.json() == first.json()
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert await Booking.count() == 1


async def test_a_replay_after_the_slot_came_free_again_gets_the_first_result_and_books_nothing(shop: Shop) -> None:
    """The key is looked up only when a booking fails; here the second booking would succeed but for the key."""
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    body = {"service_id": str(service.id), "starts_at": at(next_weekday(2), "10:00"), "customer": customer(1)}
    first = await shop.post("/api/v1/bookings", body, **{"Idempotency-Key": "order-43"})
    cancelled = await shop.post(f"/api/v1/bookings/{first.json()['booking']['id']}/cancel", {})

    with counted_statements() as seen:
        replay = await shop.post("/api/v1/bookings", body, **{"Idempotency-Key": "order-43"})

    assert first.status_code == 201 and cancelled.status_code == 200
    assert replay.status_code == 201 and replay.json() == first.json()
    assert (await Booking.count(), await Customer.count(), await Allocation.count()) == (1, 1, 1)
    assert len([q for q in seen if "FROM idempotency_record" in q]) == 1  # after the attempt's commit failed


async def test_a_first_request_with_a_key_does_not_look_the_key_up(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    body = {"service_id": str(service.id), "starts_at": at(next_weekday(2), "10:00"), "customer": customer(1)}

    with counted_statements() as seen:
        first = await shop.post("/api/v1/bookings", body, **{"Idempotency-Key": "order-44"})

    assert first.status_code == 201
    assert [q for q in seen if "FROM idempotency_record" in q] == []
    assert len([q for q in seen if "INSERT INTO idempotency_record" in q]) == 1


async def test_fifty_simultaneous_requests_for_the_last_slot_give_one_booking(shop: Shop) -> None:
    branch = await make_branch()
    day = next_weekday(3)
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"], schedule=one_day_schedule(day, "10:00", "11:00"))
    service = await make_service(branch.id, duration_minutes=60, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])

    responses = await asyncio.gather(*(shop.book(service.id, at(day, "10:00"), n=i) for i in range(50)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, [r.text for r in responses if r.status_code not in (201, 409)][:3]
    assert statuses.count(409) == 49
    assert all(r.json()["code"] == "slot_unavailable" for r in responses if r.status_code == 409)
    assert await Booking.count() == 1
    assert await Allocation.count() == 1


async def test_two_staff_two_simultaneous_requests_both_succeed(shop: Shop) -> None:
    branch = await make_branch()
    day = next_weekday(3)
    for name in ("王芳", "李娜"):
        await make_resource(branch.id, kind="staff", name=name, skills=["massage"], schedule=one_day_schedule(day, "10:00", "11:00"))
    service = await make_service(branch.id, duration_minutes=60, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])

    responses = await asyncio.gather(*(shop.book(service.id, at(day, "10:00"), n=i) for i in range(6)))

    assert sorted(r.status_code for r in responses) == [201, 201, 409, 409, 409, 409]
    staff = {r.json()["booking"]["resource_ids"][0] for r in responses if r.status_code == 201}
    assert len(staff) == 2


async def test_taken_slot_is_409_with_the_nearest_alternatives(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, duration_minutes=60, slot_step_minutes=30, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    day = next_weekday(4)
    assert (await shop.book(service.id, at(day, "10:00"), n=1)).status_code == 201

    taken = await shop.book(service.id, at(day, "10:00"), n=2)

    assert taken.status_code == 409
    problem = taken.json()
    assert problem["code"] == "slot_unavailable"
    starts = [datetime.fromisoformat(a["starts_at"]) for a in problem["alternatives"]]
    assert len(starts) == 3
    wanted = datetime.fromisoformat(at(day, "10:00"))
    assert {abs(s - wanted) for s in starts} == {timedelta(hours=1), timedelta(hours=1, minutes=30)} or min(abs(s - wanted) for s in starts) == timedelta(hours=1)


async def test_bad_starts_are_refused_with_the_field_named_and_nothing_written(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, slot_step_minutes=30, max_advance_days=30, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    day = next_weekday(0)
    far = next_weekday(0, weeks_ahead=8)
    yesterday = datetime.now(SHANGHAI).date() - timedelta(days=1)

    cases = {
        "off grid": await shop.book(service.id, at(day, "10:10")),
        "past": await shop.book(service.id, at(yesterday, "10:00")),
        "too far": await shop.book(service.id, at(far, "10:00")),
        "naive time": await shop.book(service.id, at(day, "10:00")[:19]),
        "bad phone": await shop.post("/api/v1/bookings", {"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": {"name": "李雷", "phone": "12"}}),
        "unknown service": await shop.book("00000000-0000-4000-8000-000000000000", at(day, "10:00")),
    }

    fields = {name: [e["field"] for e in r.json().get("errors", [])] for name, r in cases.items()}
    assert {name: r.status_code for name, r in cases.items()} == dict.fromkeys(cases, 422)
    assert fields["off grid"] == fields["past"] == fields["too far"] == fields["naive time"] == ["starts_at"]
    assert fields["bad phone"] == ["customer.phone"]
    assert fields["unknown service"] == ["service_id"]
    assert await Booking.count() == 0
    assert await Customer.count() == 0


async def test_state_machine_transitions_and_illegal_ones(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, requires_approval=True, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    day = next_weekday(1)
    booking = (await shop.book(service.id, at(day, "10:00"))).json()["booking"]
    path = f"/api/v1/bookings/{booking['id']}"

    assert booking["status"] == "pending_approval"
    early_no_show = await shop.post(f"{path}/no-show")
    approved = await shop.post(f"{path}/approve")
    again = await shop.post(f"{path}/approve")
    checked_in = await shop.post(f"{path}/check-in")
    cancelled = await shop.post(f"{path}/cancel", {"reason": "客户临时有事"})
    after_cancel = await shop.post(f"{path}/complete")

    assert early_no_show.status_code == 409 and early_no_show.json()["code"] == "invalid_transition"
    assert approved.json()["status"] == "confirmed"
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    assert checked_in.json()["status"] == "checked_in"
    assert cancelled.json()["status"] == "cancelled"
    assert after_cancel.status_code == 409
    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action).where(AuditEntry.target_id == booking["id"]).order_by(AuditEntry.occurred_at)]
    assert actions == ["booking.created", "booking.approved", "booking.checked_in", "booking.cancelled"]
    assert await Allocation.count().where(Allocation.active == True) == 0  # noqa: E712
    rebook = await shop.book(service.id, at(day, "10:00"), n=5)
    assert rebook.status_code == 201


async def test_payment_status_is_recorded_audited_and_checked(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id)
    booking = (await shop.book(service.id, at(next_weekday(2), "10:00"))).json()["booking"]
    path = f"/api/v1/bookings/{booking['id']}/payment-status"

    awaiting = await shop.post(path, {"payment_status": "awaiting_payment"})
    paid = await shop.post(path, {"payment_status": "paid"})
    same = await shop.post(path, {"payment_status": "paid"})
    bad = await shop.post(path, {"payment_status": "free"})

    assert awaiting.status_code == 200 and awaiting.json()["payment_status"] == "awaiting_payment"
    assert paid.json()["payment_status"] == "paid" and same.json()["payment_status"] == "paid"
    assert bad.status_code == 400 or bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    changes = await AuditEntry.select(AuditEntry.details).where(
        (AuditEntry.target_id == booking["id"]) & (AuditEntry.action == "booking.payment_status_changed")
    ).order_by(AuditEntry.occurred_at).output(load_json=True)
    assert [(c["details"]["from"], c["details"]["to"]) for c in changes] == [
        ("unpaid", "awaiting_payment"), ("awaiting_payment", "paid"),
    ]


async def test_reschedule_moves_atomically_and_keeps_the_booking_when_the_new_time_is_taken(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, duration_minutes=60, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    day = next_weekday(2)
    mine = (await shop.book(service.id, at(day, "10:00"), n=1)).json()["booking"]
    (await shop.book(service.id, at(day, "14:00"), n=2)).json()

    overlapping_self = await shop.post(f"/api/v1/bookings/{mine['id']}/reschedule", {"starts_at": at(day, "10:30")})
    onto_other = await shop.post(f"/api/v1/bookings/{mine['id']}/reschedule", {"starts_at": at(day, "14:00")})

    assert overlapping_self.status_code == 200, overlapping_self.text
    assert overlapping_self.json()["starts_at"].startswith(f"{day.isoformat()}T02:30")
    assert onto_other.status_code == 409 and onto_other.json()["code"] == "slot_unavailable"
    active = await Allocation.select(Allocation.starts_at).where((Allocation.booking == mine["id"]) & (Allocation.active == True))  # noqa: E712
    assert [a["starts_at"] for a in active] == [datetime.fromisoformat(at(day, "10:30"))]
    freed = await shop.book(service.id, at(day, "09:00"), n=3)
    assert freed.status_code == 201


async def test_group_class_shares_resources_until_seats_run_out(shop: Shop) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="教练", skills=["yoga"])
    await make_resource(branch.id, kind="room", name="大教室", skills=["studio"])
    service = await make_service(
        branch.id, name="瑜伽课", seats=3, duration_minutes=60,
        requirements=[{"kind": "staff", "skills": ["yoga"], "count": 1}, {"kind": "room", "skills": ["studio"], "count": 1}],
    )
    day = next_weekday(5)

    results = [await shop.book(service.id, at(day, "16:00"), n=i) for i in range(4)]

    assert [r.status_code for r in results] == [201, 201, 201, 409]
    resources = {tuple(sorted(r.json()["booking"]["resource_ids"])) for r in results[:3]}
    assert len(resources) == 1


async def test_availability_lists_slots_with_resources_and_days(shop: Shop, client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    day = next_weekday(0)
    wang = await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"], schedule=one_day_schedule(day, "09:00", "12:00"))
    service = await make_service(branch.id, duration_minutes=60, slot_step_minutes=60, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    await shop.book(service.id, at(day, "10:00"))

    slots = await client.get("/api/v1/availability", params={"service_id": str(service.id), "from": at(day, "00:00"), "to": at(day + timedelta(days=1), "00:00")})
    days = await client.get("/api/v1/availability/days", params={"service_id": str(service.id), "from": (day - timedelta(days=2)).isoformat(), "to": (day + timedelta(days=2)).isoformat()})

    assert slots.status_code == 200, slots.text
    starts = [datetime.fromisoformat(s["starts_at"]).astimezone(SHANGHAI).strftime("%H:%M") for s in slots.json()["slots"]]
    assert starts == ["09:00", "11:00"]
    assert all(s["resource_ids"] == [str(wang.id)] for s in slots.json()["slots"])
    assert days.json()["days"] == [day.isoformat()]


async def test_branch_opening_hours_limit_availability(shop: Shop, client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await shop.client.patch(
        f"/api/v1/branches/{branch.id}", json={"opening_hours": {d: [["10:00", "12:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}},
        headers={"X-CSRF-Token": shop.csrf},
    )
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])  # works 09:00–18:00
    service = await make_service(branch.id, duration_minutes=60, slot_step_minutes=60, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    day = next_weekday(2)

    slots = await client.get("/api/v1/availability", params={"service_id": str(service.id), "from": at(day, "00:00"), "to": at(day + timedelta(days=1), "00:00")})
    outside = await shop.book(service.id, at(day, "15:00"))

    assert slots.status_code == 200, slots.text
    assert [datetime.fromisoformat(s["starts_at"]).astimezone(SHANGHAI).strftime("%H:%M") for s in slots.json()["slots"]] == ["10:00", "11:00"]
    assert outside.status_code == 409


async def test_new_york_branch_gets_local_slots_right_on_daylight_saving_days(shop: Shop, client: httpx.AsyncClient) -> None:
    new_york = ZoneInfo("America/New_York")
    branch = await make_branch("Fifth Avenue", "America/New_York")
    await make_resource(branch.id, kind="staff", name="Ann", skills=["massage"])  # 09:00–18:00 local, every day
    service = await make_service(branch.id, duration_minutes=60, slot_step_minutes=60, max_advance_days=730, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    today = datetime.now(new_york).date()
    upcoming = sorted(d for y in (today.year, today.year + 1) for d in (_dst_sunday(y, 3), _dst_sunday(y, 11)) if d > today)

    for day in upcoming[:2]:
        response = await client.get(
            "/api/v1/availability",
            params={"service_id": str(service.id), "from": at(day, "00:00", new_york), "to": at(day + timedelta(days=1), "00:00", new_york)},
        )
        starts = [datetime.fromisoformat(s["starts_at"]) for s in response.json()["slots"]]
        local = [s.astimezone(new_york).strftime("%H:%M") for s in starts]
        offsets = {s.astimezone(new_york).utcoffset() for s in starts}
        assert response.status_code == 200, response.text
        assert local == [f"{h:02d}:00" for h in range(9, 18)]
        assert offsets == {timedelta(hours=-4) if day.month == 3 else timedelta(hours=-5)}
        assert len({s.astimezone(SHANGHAI) for s in starts}) == 9


def _dst_sunday(year: int, month: int) -> date:
    """US rules: the second Sunday of March, the first Sunday of November."""
    first = date(year, month, 1)
    first_sunday = first + timedelta(days=(6 - first.weekday()) % 7)
    return first_sunday + timedelta(days=7) if month == 3 else first_sunday


async def test_listing_filters_and_pages(shop: Shop, client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, duration_minutes=60, slot_step_minutes=60, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}])
    day = next_weekday(1)
    ids = [(await shop.book(service.id, at(day, f"{h:02d}:00"), n=h)).json()["booking"]["id"] for h in (9, 10, 11, 12, 13)]
    await shop.post(f"/api/v1/bookings/{ids[0]}/cancel")

    first = await client.get("/api/v1/bookings", params={"limit": 2, "resource_id": str(wang.id)})
    second = await client.get("/api/v1/bookings", params={"limit": 2, "resource_id": str(wang.id), "cursor": first.json()["next_cursor"]})
    cancelled = await client.get("/api/v1/bookings", params={"status": "cancelled"})
    window = await client.get("/api/v1/bookings", params={"from": at(day, "10:30"), "to": at(day, "12:30")})
    bad = await client.get("/api/v1/bookings", params={"status": "lost"})

    assert [b["id"] for b in first.json()["items"]] == ids[:2]
    assert [b["id"] for b in second.json()["items"]] == ids[2:4]
    assert [b["id"] for b in cancelled.json()["items"]] == ids[:1]
    assert [b["id"] for b in window.json()["items"]] == ids[2:4]
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


async def test_unknown_resource_ids_are_named_by_their_place_in_the_request_and_nothing_is_written(shop: Shop) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    room = await make_resource(branch.id, kind="room", name="VIP 1", skills=["vip"])
    elsewhere = await make_resource((await make_branch("徐汇店")).id, kind="room", name="别店房", skills=["vip"])
    service = await make_service(
        branch.id, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}, {"kind": "room", "skills": ["vip"], "count": 1}],
    )
    day = next_weekday(4)
    # Listed after a known one that sorts after it: the field named is the request's, not a sorted order's.
    nobody = "ffffffff-ffff-4fff-bfff-ffffffffffff"

    cases = {
        "unknown": await shop.book(service.id, at(day, "10:00"), resource_ids=[str(wang.id), nobody]),
        "unknown first": await shop.book(service.id, at(day, "10:00"), resource_ids=[nobody, str(room.id)]),
        "other branch": await shop.book(service.id, at(day, "10:00"), resource_ids=[str(wang.id), str(elsewhere.id)]),
        "not a uuid": await shop.book(service.id, at(day, "10:00"), resource_ids=[str(wang.id), "王芳"]),
    }

    assert {name: r.status_code for name, r in cases.items()} == dict.fromkeys(cases, 422)
    assert {name: [e["field"] for e in r.json()["errors"]] for name, r in cases.items()} == {
        "unknown": ["resource_ids[1]"], "unknown first": ["resource_ids[0]"], "other branch": ["resource_ids[1]"],
        "not a uuid": ["resource_ids[1]"],
    }
    assert await Booking.count() == 0
    assert await Customer.count() == 0
