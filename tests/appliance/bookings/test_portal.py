"""The public portal: booking without login, self-service by manage token within the cut-offs, and the
customer picking the staff member only where the service lets them."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.actions import update_branch, update_service
from appliance.catalog.schemas import BranchUpdate, Resource, Service, ServiceUpdate
from appliance.testing.builders import make_branch, make_resource, make_service, make_user, sign_in
from tests.appliance.bookings.test_api import SHANGHAI, at, customer, next_weekday


async def make_bookable(**service: object) -> object:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    return await make_service(branch.id, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}], **service)


async def test_customer_books_views_reschedules_and_cancels_with_the_token(client: httpx.AsyncClient) -> None:
    service = await make_bookable(channels=["web"])
    day = next_weekday(0)

    created = await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(3)})
    token = created.json()["manage_token"]
    manage_page = await client.get(created.json()["manage_path"])
    view = await client.get(f"/api/v1/portal/bookings/{token}")
    moved = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(day, "15:00")})
    cancelled = await client.post(f"/api/v1/portal/bookings/{token}/cancel")

    assert created.status_code == 201, created.text
    assert created.json()["booking"]["channel"] == "web"
    assert manage_page.status_code == 200 and service.name in manage_page.text  # the path given leads to the page
    assert view.json()["can_cancel"] is True and view.json()["service_name"] == service.name
    assert datetime.fromisoformat(moved.json()["starts_at"]).astimezone(SHANGHAI).hour == 15
    assert cancelled.json()["status"] == "cancelled"
    actors = {r["actor_kind"] for r in await AuditEntry.select(AuditEntry.actor_kind).where(AuditEntry.action.is_in(["booking.rescheduled", "booking.cancelled"]))}
    assert actors == {"customer"}


async def test_cancelling_after_the_cutoff_is_refused(client: httpx.AsyncClient) -> None:
    service = await make_bookable(cancel_cutoff_minutes=60 * 24 * 30)
    day = next_weekday(0)
    token = (await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(4)})).json()["manage_token"]

    refused = await client.post(f"/api/v1/portal/bookings/{token}/cancel")

    assert refused.status_code == 409
    assert refused.json()["code"] == "cutoff_passed"
    assert (await Booking.select(Booking.status).first())["status"] == "confirmed"


async def test_unknown_token_is_404_and_portal_cannot_book_staff_only_channels(client: httpx.AsyncClient) -> None:
    service = await make_bookable(channels=["admin", "phone"])
    day = next_weekday(1)

    unknown = await client.get("/api/v1/portal/bookings/not-a-real-token-000000000000")
    walled = await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(5)})
    slots = await client.get("/api/v1/portal/availability", params={"service_id": str(service.id), "from": at(day, "00:00"), "to": at(day + timedelta(days=1), "00:00")})

    assert unknown.status_code == 404
    assert walled.status_code == 422
    assert slots.status_code == 404
    assert await Booking.count() == 0


async def test_rescheduling_after_the_cutoff_is_refused_with_a_clear_problem(client: httpx.AsyncClient) -> None:
    service = await make_bookable(reschedule_cutoff_minutes=60 * 24 * 30)
    day = next_weekday(0)
    token = (await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(6)})).json()["manage_token"]

    view = await client.get(f"/api/v1/portal/bookings/{token}")
    refused = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(day, "15:00")})

    assert view.json()["can_reschedule"] is False and view.json()["can_cancel"] is True
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "cutoff_passed"
    assert refused.json()["detail"] == "online rescheduling closes 43200 minutes before the booking; please call the branch"
    row = await Booking.select(Booking.starts_at).first()
    assert row is not None and row["starts_at"] == datetime.fromisoformat(at(day, "10:00"))
    assert await AuditEntry.count().where(AuditEntry.action == "booking.rescheduled") == 0


async def test_a_cancelled_booking_cannot_be_rescheduled_by_its_token(client: httpx.AsyncClient) -> None:
    service = await make_bookable()
    day = next_weekday(1)
    token = (await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(7)})).json()["manage_token"]
    assert (await client.post(f"/api/v1/portal/bookings/{token}/cancel")).json()["status"] == "cancelled"

    view = await client.get(f"/api/v1/portal/bookings/{token}")
    refused = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(day, "15:00")})

    assert view.json()["can_reschedule"] is False and view.json()["can_cancel"] is False
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    assert refused.json()["detail"] == "a cancelled booking cannot be rescheduled"
    assert await Allocation.count().where(Allocation.active == True) == 0  # noqa: E712 - nothing taken at 15:00
    assert await AuditEntry.count().where(AuditEntry.action == "booking.rescheduled") == 0


async def _two_therapists(**service: object) -> tuple[Service, Resource, Resource]:
    """A service and its two therapists, in the order the engine tries them (by id)."""
    branch = await make_branch()
    first, second = sorted(
        [await make_resource(branch.id, kind="staff", name=n, skills=["massage"]) for n in ("王芳", "李娜")],
        key=lambda r: str(r.id),
    )
    booked = await make_service(branch.id, requirements=[{"kind": "staff", "skills": ["massage"], "count": 1}], **service)
    return booked, first, second


async def test_customers_may_not_pick_the_staff_member_unless_the_service_lets_them(client: httpx.AsyncClient) -> None:
    service, _, second = await _two_therapists()
    day = next_weekday(2)
    body = {"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(8)}

    picked = await client.post("/api/v1/portal/bookings", json={**body, "resource_ids": [str(second.id)]})
    slots = await client.get("/api/v1/portal/availability", params={
        "service_id": str(service.id), "from": at(day, "00:00"), "to": at(day + timedelta(days=1), "00:00"), "resource_id": str(second.id),
    })
    token = (await client.post("/api/v1/portal/bookings", json=body)).json()["manage_token"]
    moved = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(day, "15:00"), "resource_ids": [str(second.id)]})

    assert picked.status_code == 422 and [e["field"] for e in picked.json()["errors"]] == ["resource_ids"]
    assert slots.status_code == 422 and [e["field"] for e in slots.json()["errors"]] == ["resource_id"]
    assert moved.status_code == 422 and [e["field"] for e in moved.json()["errors"]] == ["resource_ids"]
    assert await Booking.count() == 1  # only the booking without a pick
    row = await Booking.select(Booking.starts_at).first()
    assert row is not None and row["starts_at"] == datetime.fromisoformat(at(day, "10:00"))


async def test_customers_pick_the_staff_member_when_the_service_lets_them(client: httpx.AsyncClient) -> None:
    service, first, second = await _two_therapists(customer_picks_staff=True)
    day = next_weekday(3)
    body = {"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(9)}

    slots = await client.get("/api/v1/portal/availability", params={
        "service_id": str(service.id), "from": at(day, "10:00"), "to": at(day, "10:01"), "resource_id": str(second.id),
    })
    picked = await client.post("/api/v1/portal/bookings", json={**body, "resource_ids": [str(second.id)]})
    token = picked.json()["manage_token"]
    moved = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(day, "15:00"), "resource_ids": [str(first.id)]})

    assert [s["resource_ids"] for s in slots.json()["slots"]] == [[str(second.id)]]
    assert picked.status_code == 201, picked.text
    assert picked.json()["booking"]["resource_ids"] == [str(second.id)]  # not the one the engine tries first
    assert moved.status_code == 200, moved.text
    active = await Allocation.select(Allocation.resource).where(Allocation.active == True)  # noqa: E712
    assert [a["resource"] for a in active] == [first.id]


async def test_the_public_sees_neither_who_is_busy_nor_which_staff_a_slot_uses_unless_it_may_choose(
    client: httpx.AsyncClient,
) -> None:
    service, first, second = await _two_therapists()
    day = next_weekday(4)
    busy = await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(10)})
    window = {"service_id": str(service.id), "from": at(day, "09:00"), "to": at(day, "12:00")}

    public = await client.get("/api/v1/portal/availability", params=window)
    taken = await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(11)})
    again = await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(12)})
    await make_user("desk", Role.owner)
    await sign_in(client, "desk")
    staff = await client.get("/api/v1/availability", params=window)

    assert busy.status_code == 201 and taken.status_code == 201, taken.text  # two therapists: 10:00 twice
    assert again.status_code == 409
    slots = public.json()["slots"]
    assert slots and all(s["explanation"] == "" and s["resource_ids"] == [] for s in slots)
    alternatives = again.json()["alternatives"]
    assert alternatives and all(a["explanation"] == "" and a["resource_ids"] == [] for a in alternatives)
    # Staff see both: the explanation names the staff member and their booked minutes.
    staff_slots = staff.json()["slots"]
    assert all(s["resource_ids"] for s in staff_slots)
    assert any("王芳" in s["explanation"] or "李娜" in s["explanation"] for s in staff_slots)
    assert {first.id, second.id} >= {UUID(r) for s in staff_slots for r in s["resource_ids"]}


async def test_dates_at_the_ends_of_the_calendar_are_a_clear_422_or_todays_month_never_a_500(
    client: httpx.AsyncClient,
) -> None:
    service = await make_bookable(channels=["web"])
    sid = str(service.id)

    ancient = await client.get("/api/v1/portal/availability", params={
        "service_id": sid, "from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z",
    })
    last_day = await client.get("/api/v1/portal/availability/days", params={"service_id": sid, "from": "9999-12-31", "to": "9999-12-31"})
    booked = await client.post("/api/v1/portal/bookings", json={
        "service_id": sid, "starts_at": "9999-12-31T23:00:00-05:00", "customer": customer(13),
    })
    month_page = await client.get(f"/portal/services/{sid}", params={"month": "9999-12-01"})
    day_page = await client.get(f"/portal/services/{sid}", params={"day": "9999-12-31"})

    assert ancient.status_code == 422 and [e["field"] for e in ancient.json()["errors"]] == ["from", "to"]
    assert last_day.status_code == 422 and [e["field"] for e in last_day.json()["errors"]] == ["from", "to"]
    assert booked.status_code == 422 and [e["field"] for e in booked.json()["errors"]] == ["starts_at"]
    assert booked.headers["content-type"].startswith("application/problem+json")
    assert month_page.status_code == 200 and day_page.status_code == 200
    assert await Booking.count() == 0


async def test_a_closed_branch_takes_no_online_bookings_and_a_retired_service_no_online_moves(
    client: httpx.AsyncClient,
) -> None:
    service = await make_bookable(channels=["web"])
    retired = await make_bookable(channels=["web"])
    day = next_weekday(2)
    window = {"service_id": str(service.id), "from": at(day, "00:00"), "to": at(day + timedelta(days=1), "00:00")}
    token = (await client.post("/api/v1/portal/bookings", json={"service_id": str(retired.id), "starts_at": at(day, "10:00"), "customer": customer(14)})).json()["manage_token"]
    await update_branch(service.branch_id, BranchUpdate(active=False), actor=cli_actor())
    await update_service(retired.id, ServiceUpdate(active=False), actor=cli_actor())

    slots = await client.get("/api/v1/portal/availability", params=window)
    form = await client.get(f"/api/v1/portal/services/{service.id}/form")
    days = await client.get("/api/v1/portal/availability/days", params={**window, "from": day.isoformat(), "to": day.isoformat()})
    booked = await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(15)})
    view = await client.get(f"/api/v1/portal/bookings/{token}")
    moved = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(day, "15:00")})

    assert slots.status_code == 404 and days.status_code == 404 and form.status_code == 404
    assert booked.status_code == 422 and [e["field"] for e in booked.json()["errors"]] == ["service_id"]
    assert view.json()["can_reschedule"] is False and view.json()["can_cancel"] is True
    assert moved.status_code == 409 and moved.json()["code"] == "not_offered"
    assert await Booking.count() == 1
    row = await Booking.select(Booking.starts_at).first()
    assert row is not None and row["starts_at"] == datetime.fromisoformat(at(day, "10:00"))


async def test_moving_a_booking_after_online_cancelling_closed_does_not_reopen_it(client: httpx.AsyncClient) -> None:
    service = await make_bookable(cancel_cutoff_minutes=60 * 24 * 30, max_advance_days=90)  # reschedule: no cut-off
    day = next_weekday(0)
    token = (await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(16)})).json()["manage_token"]
    closed = (await client.get(f"/api/v1/portal/bookings/{token}")).json()
    far = day + timedelta(days=42)  # its own cut-off would fall twelve days or more from now

    moved = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(far, "10:00")})
    cancelled = await client.post(f"/api/v1/portal/bookings/{token}/cancel")

    assert closed["can_cancel"] is False and closed["can_reschedule"] is True
    assert moved.status_code == 200, moved.text
    assert moved.json()["can_cancel"] is False and moved.json()["cutoff_at"] == closed["cutoff_at"]
    assert cancelled.status_code == 409 and cancelled.json()["code"] == "cutoff_passed"
    assert "moved" in cancelled.json()["detail"]
    row = await Booking.select(Booking.status, Booking.starts_at).first()
    assert row is not None and row["status"] == "confirmed" and row["starts_at"] == datetime.fromisoformat(at(far, "10:00"))


async def test_a_move_before_online_cancelling_closed_leaves_it_open_for_the_new_time(client: httpx.AsyncClient) -> None:
    service = await make_bookable(cancel_cutoff_minutes=60, max_advance_days=90)
    day = next_weekday(0)
    token = (await client.post("/api/v1/portal/bookings", json={"service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(17)})).json()["manage_token"]

    moved = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(day + timedelta(days=7), "10:00")})
    cancelled = await client.post(f"/api/v1/portal/bookings/{token}/cancel")

    assert moved.status_code == 200 and moved.json()["can_cancel"] is True
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


async def test_a_portal_booking_made_on_a_device_signed_in_as_staff_is_the_publics_not_staffs(
    client: httpx.AsyncClient,
) -> None:
    service = await make_bookable(channels=["web"])
    await make_user("desk", Role.owner)
    me = await sign_in(client, "desk")

    created = await client.post(
        "/api/v1/portal/bookings", headers={"X-CSRF-Token": me["csrf_token"]},
        json={"service_id": str(service.id), "starts_at": at(next_weekday(2), "10:00"), "customer": customer(18)},
    )

    assert created.status_code == 201, created.text
    [entry] = await AuditEntry.select(AuditEntry.actor_kind, AuditEntry.actor_id).where(AuditEntry.action == "booking.created")
    assert entry["actor_kind"] == "anonymous" and entry["actor_id"] is None
