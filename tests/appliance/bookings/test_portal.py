"""The public portal: booking without login, and self-service by manage token within the cut-off."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from appliance.audit.tables import AuditEntry
from appliance.bookings.tables import Booking
from appliance.testing.builders import make_branch, make_resource, make_service
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
    view = await client.get(f"/api/v1/portal/bookings/{token}")
    moved = await client.post(f"/api/v1/portal/bookings/{token}/reschedule", json={"starts_at": at(day, "15:00")})
    cancelled = await client.post(f"/api/v1/portal/bookings/{token}/cancel")

    assert created.status_code == 201, created.text
    assert created.json()["booking"]["channel"] == "web"
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
