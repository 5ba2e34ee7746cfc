"""A reschedule judged on a booking row read before its transaction (the portal reads it by token, staff
screens by id) must not win over a change that committed meanwhile: a cancel, or another move. Both
engines; the stale row stands in for the other request having committed between the read and the write."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from appliance.auth.actor import cli_actor
from appliance.bookings.actions import reschedule_booking, transition_booking
from appliance.bookings.queries import get_booking_row
from appliance.bookings.tables import Allocation, Booking
from appliance.core.errors import Conflict
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service, requirement

pytestmark = pytest.mark.usefixtures("database")

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _booked() -> tuple[UUID, datetime]:
    branch = await make_branch()
    await make_resource(branch.id, "staff", "王芳", ["massage"])
    service = await make_service(branch.id, "精油按摩", 60, [requirement("staff", "massage")])
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=5)
    return await make_booking(service.id, day + timedelta(hours=10)), day


async def _active_allocations(booking_id: UUID) -> list[datetime]:
    rows = await Allocation.select(Allocation.starts_at).where(
        (Allocation.booking == booking_id) & (Allocation.active == True)  # noqa: E712
    )
    return [r["starts_at"] for r in rows]


async def test_a_move_judged_before_a_cancel_committed_fails_and_holds_nothing() -> None:
    booking_id, day = await _booked()
    seen = await get_booking_row(booking_id, actor=cli_actor())  # the move's read, before the cancel
    await transition_booking(booking_id, "cancel", actor=cli_actor())

    with pytest.raises(Conflict) as refused:
        await reschedule_booking(booking_id, day + timedelta(hours=15), actor=cli_actor(), row=seen)

    assert refused.value.code == "invalid_transition"
    assert await _active_allocations(booking_id) == []
    row = await Booking.select(Booking.status, Booking.starts_at).where(Booking.id == booking_id).first()
    assert row is not None and row["status"] == "cancelled" and row["starts_at"] == day + timedelta(hours=10)


async def test_of_two_moves_from_the_same_read_one_wins_and_one_set_of_allocations_stays() -> None:
    booking_id, day = await _booked()
    seen = await get_booking_row(booking_id, actor=cli_actor())

    await reschedule_booking(booking_id, day + timedelta(hours=14), actor=cli_actor(), row=seen)
    with pytest.raises(Conflict):
        await reschedule_booking(booking_id, day + timedelta(hours=16), actor=cli_actor(), row=seen)

    assert await _active_allocations(booking_id) == [day + timedelta(hours=14)]
    row = await Booking.select(Booking.starts_at).where(Booking.id == booking_id).first()
    assert row is not None and row["starts_at"] == day + timedelta(hours=14)
