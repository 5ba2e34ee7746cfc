"""Giving a booking another resource at the same time (`POST /api/v1/bookings/{id}/reassign`), on both
engines: the resource it stands in for is released, the others stay, and what cannot be done changes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.bookings.tables import Allocation
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_branch, make_resource, make_service, make_user, sign_in
from tests.appliance.bookings.test_api import Shop, at, next_weekday, shop  # noqa: F401 - the fixture

STAFF_AND_ROOM = [{"kind": "staff", "skills": ["massage"], "count": 1}, {"kind": "room", "skills": [], "count": 1}]


async def _salon() -> dict[str, Any]:
    branch = await make_branch()
    # Resources are picked in id order among equals: make the gold consultant the one not picked first.
    staff = sorted(
        [await make_resource(branch.id, kind="staff", name=name, skills=["massage"]) for name in ("王芳", "金牌顾问")],
        key=lambda r: str(r.id),
    )
    return {
        "branch": branch, "first": staff[0], "gold": staff[1],
        "room": await make_resource(branch.id, kind="room", name="A 室"),
        "trainee": await make_resource(branch.id, kind="staff", name="学徒", skills=["nails"]),
        "service": await make_service(branch.id, duration_minutes=60, requirements=STAFF_AND_ROOM),
    }


async def _active(booking_id: str) -> set[str]:
    rows = await Allocation.select(Allocation.resource).where(
        (Allocation.booking == booking_id) & (Allocation.active == True)  # noqa: E712
    )
    return {str(r["resource"]) for r in rows}


async def test_reassigning_swaps_the_pick_of_that_kind_keeps_the_room_and_is_recorded(shop: Shop) -> None:
    salon = await _salon()
    day = next_weekday(0)
    booked = (await shop.book(salon["service"].id, at(day, "10:00"))).json()["booking"]
    assert set(booked["resource_ids"]) == {str(salon["first"].id), str(salon["room"].id)}

    response = await shop.post(
        f"/api/v1/bookings/{booked['id']}/reassign", {"resource_id": str(salon["gold"].id), "reason": "VIP"}
    )

    assert response.status_code == 200, response.text
    assert set(response.json()["resource_ids"]) == {str(salon["gold"].id), str(salon["room"].id)}
    assert await _active(booked["id"]) == {str(salon["gold"].id), str(salon["room"].id)}
    assert response.json()["starts_at"] == booked["starts_at"]
    event = await OutboxEvent.select(OutboxEvent.data).where(OutboxEvent.type == "booking.reassigned").first()
    assert event is not None
    assert str(salon["first"].id) in str(event["data"])  # previous_resource_ids
    assert await AuditEntry.count().where(AuditEntry.action == "booking.reassigned") == 1
    # The released consultant is free again at that time (a second room makes the rest possible).
    await make_resource(salon["branch"].id, kind="room", name="B 室")
    again = await shop.book(salon["service"].id, at(day, "10:00"), n=2, resource_ids=[str(salon["first"].id)])
    assert again.status_code == 201, again.text


async def test_a_busy_or_unfit_resource_is_refused_and_nothing_changes(shop: Shop) -> None:
    salon = await _salon()
    day = next_weekday(1)
    first = (await shop.book(salon["service"].id, at(day, "10:00"))).json()["booking"]
    # A second room lets the gold consultant be booked at the same time by someone else.
    await make_resource(salon["branch"].id, kind="room", name="B 室")
    other = await shop.book(salon["service"].id, at(day, "10:00"), n=1, resource_ids=[str(salon["gold"].id)])
    assert other.status_code == 201, other.text
    before = await _active(first["id"])

    busy = await shop.post(f"/api/v1/bookings/{first['id']}/reassign", {"resource_id": str(salon["gold"].id)})
    unfit = await shop.post(f"/api/v1/bookings/{first['id']}/reassign", {"resource_id": str(salon["trainee"].id)})
    unknown = await shop.post(
        f"/api/v1/bookings/{first['id']}/reassign", {"resource_id": "00000000-0000-4000-8000-000000000000"}
    )

    assert busy.status_code == 409 and busy.json()["code"] == "slot_unavailable"
    assert unfit.status_code == 422 and [e["field"] for e in unfit.json()["errors"]] == ["resource_id"]
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["resource_id"]
    assert await _active(first["id"]) == before
    assert await OutboxEvent.count().where(OutboxEvent.type == "booking.reassigned") == 0


async def test_cancelled_bookings_keep_their_resources_and_a_held_one_is_a_no_op(shop: Shop) -> None:
    salon = await _salon()
    day = next_weekday(2)
    booked = (await shop.book(salon["service"].id, at(day, "10:00"))).json()["booking"]

    same = await shop.post(f"/api/v1/bookings/{booked['id']}/reassign", {"resource_id": str(salon["first"].id)})
    await shop.post(f"/api/v1/bookings/{booked['id']}/cancel")
    cancelled = await shop.post(f"/api/v1/bookings/{booked['id']}/reassign", {"resource_id": str(salon["gold"].id)})

    assert same.status_code == 200 and set(same.json()["resource_ids"]) == set(booked["resource_ids"])
    assert cancelled.status_code == 409 and cancelled.json()["code"] == "invalid_transition"
    assert await OutboxEvent.count().where(OutboxEvent.type == "booking.reassigned") == 0


async def test_reassigning_needs_the_right_to_write_bookings_in_that_branch(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    salon = await _salon()
    booked = (await shop.book(salon["service"].id, at(next_weekday(3), "10:00"))).json()["booking"]
    elsewhere = await make_branch("别的店")
    await make_user("other.manager", Role.manager, branch_id=elsewhere.id)
    me = await sign_in(client, "other.manager")

    response = await client.post(
        f"/api/v1/bookings/{booked['id']}/reassign", json={"resource_id": str(salon["gold"].id)},
        headers={"X-CSRF-Token": me["csrf_token"]},
    )

    assert response.status_code == 404
    assert await _active(booked["id"]) == set(booked["resource_ids"])
