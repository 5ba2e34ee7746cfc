"""The state machine over HTTP on both engines (design.md §4): each transition moves the status, is audited
and emitted as its event in the same transaction, and releases the allocations when the booking stops
holding them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from appliance.audit.tables import AuditEntry
from appliance.bookings.tables import Allocation, Booking
from appliance.core.clock import utc_now
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_branch, make_resource, make_service
from tests.appliance.bookings.test_api import Shop, at, next_weekday, shop  # noqa: F401 - the fixture


async def _booking(shop: Shop, *, requires_approval: bool = False, hhmm: str = "10:00") -> dict[str, Any]:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, requires_approval=requires_approval)
    response = await shop.book(service.id, at(next_weekday(1), hhmm))
    assert response.status_code == 201, response.text
    booking: dict[str, Any] = response.json()["booking"]
    return booking


async def _recorded(booking_id: str) -> tuple[list[str], list[str]]:
    """The audit actions and the outbox event types about the booking, oldest first."""
    audit = await AuditEntry.select(AuditEntry.action).where(AuditEntry.target_id == booking_id).order_by(AuditEntry.occurred_at)
    events = await OutboxEvent.select(OutboxEvent.type, OutboxEvent.data).order_by(OutboxEvent.occurred_at).output(load_json=True)
    return [a["action"] for a in audit], [e["type"] for e in events if e["data"].get("id") == booking_id]


async def _holding(booking_id: str) -> int:
    return await Allocation.count().where((Allocation.booking == booking_id) & (Allocation.active == True))  # noqa: E712


async def _started_an_hour_ago(booking_id: str) -> None:
    """Time passes: the booking (and what it holds) now began an hour ago."""
    row = await Booking.select(Booking.starts_at, Booking.ends_at).where(Booking.id == booking_id).first()
    assert row is not None
    shift = row["starts_at"] - (utc_now().replace(second=0, microsecond=0) - timedelta(hours=1))
    await Booking.update({Booking.starts_at: row["starts_at"] - shift, Booking.ends_at: row["ends_at"] - shift}).where(
        Booking.id == booking_id
    )
    for allocation in await Allocation.select().where(Allocation.booking == booking_id):
        await Allocation.update({
            Allocation.starts_at: allocation["starts_at"] - shift, Allocation.ends_at: allocation["ends_at"] - shift,
        }).where(Allocation.id == allocation["id"])


async def test_confirm_moves_a_pending_booking_on_and_is_audited_and_emitted(shop: Shop) -> None:
    booking = await _booking(shop, requires_approval=True)

    confirmed = await shop.post(f"/api/v1/bookings/{booking['id']}/confirm")

    assert booking["status"] == "pending_approval"
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert await _recorded(booking["id"]) == (["booking.created", "booking.confirmed"], ["booking.created", "booking.confirmed"])
    assert await _holding(booking["id"]) == 1


async def test_reject_ends_a_pending_booking_and_frees_its_time(shop: Shop) -> None:
    booking = await _booking(shop, requires_approval=True)

    rejected = await shop.post(f"/api/v1/bookings/{booking['id']}/reject", {"reason": "无此项目"})
    again = await shop.post(f"/api/v1/bookings/{booking['id']}/confirm")

    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    assert await _recorded(booking["id"]) == (["booking.created", "booking.rejected"], ["booking.created", "booking.rejected"])
    event = await OutboxEvent.select(OutboxEvent.data).where(OutboxEvent.type == "booking.rejected").output(load_json=True).first()
    assert event is not None and event["data"]["reason"] == "无此项目" and event["data"]["previous_status"] == "pending_approval"
    assert await _holding(booking["id"]) == 0


async def test_a_confirmed_booking_cannot_be_rejected_but_can_be_completed_keeping_its_allocations(shop: Shop) -> None:
    booking = await _booking(shop)

    rejected = await shop.post(f"/api/v1/bookings/{booking['id']}/reject")
    completed = await shop.post(f"/api/v1/bookings/{booking['id']}/complete")

    assert rejected.status_code == 409 and rejected.json()["code"] == "invalid_transition"
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    assert await _recorded(booking["id"]) == (["booking.created", "booking.completed"], ["booking.created", "booking.completed"])
    assert await _holding(booking["id"]) == 1  # a completed booking keeps its time as history


@pytest.mark.parametrize("checked_in", [False, True], ids=["confirmed", "checked_in"])
async def test_no_show_after_the_start_releases_the_booking_from_any_open_state(shop: Shop, checked_in: bool) -> None:
    booking = await _booking(shop)
    path = f"/api/v1/bookings/{booking['id']}"
    early = await shop.post(f"{path}/no-show")
    if checked_in:
        assert (await shop.post(f"{path}/check-in")).json()["status"] == "checked_in"
    await _started_an_hour_ago(booking["id"])

    no_show = await shop.post(f"{path}/no-show")
    again = await shop.post(f"{path}/no-show")

    assert early.status_code == 409 and early.json()["detail"] == "cannot no-show before the booking starts"
    assert no_show.status_code == 200, no_show.text
    assert no_show.json()["status"] == "no_show"
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    middle = ["booking.checked_in"] if checked_in else []
    expected = ["booking.created", *middle, "booking.no_show"]
    assert await _recorded(booking["id"]) == (expected, expected)
    assert await _holding(booking["id"]) == 0
