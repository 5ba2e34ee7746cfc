"""A reschedule or reassignment judged on a booking row read before its transaction (the portal reads it by
token, staff screens by id) must not win over a change that committed meanwhile: a cancel, or another move
(the stale row stands in for the other request having committed between the read and the write). And the
edges around the engine: a group class moving within its session, the alternatives a refused move offers,
a reassignment's length and start, a price beyond its column, a room shrinking under its bookings. Both engines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from appliance.auth.actor import cli_actor
from appliance.bookings.actions import (
    NewBooking, SlotUnavailable, create_booking, reassign_resource, reschedule_booking, transition_booking,
)
from appliance.bookings.queries import get_booking_row
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.actions import update_resource, update_service
from appliance.catalog.schemas import ResourceUpdate, ServiceUpdate
from appliance.catalog.tables import Resource
from appliance.core.errors import Conflict, Invalid
from appliance.customers.schemas import CustomerContact
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


async def test_a_reassignment_judged_before_a_cancel_committed_fails_and_holds_nothing() -> None:
    booking_id, day = await _booked()
    branch_id = (await Booking.select(Booking.branch).where(Booking.id == booking_id).first() or {})["branch"]
    other = await make_resource(branch_id, "staff", "李娜", ["massage"])
    seen = await get_booking_row(booking_id, actor=cli_actor())
    await transition_booking(booking_id, "cancel", actor=cli_actor())

    with pytest.raises(Conflict):
        await reassign_resource(booking_id, other.id, actor=cli_actor(), row=seen)

    assert await _active_allocations(booking_id) == []



# --- Moves, reassignments and resizes around the engine ---------------------------------------------


async def _one_therapist(**service: object) -> tuple[UUID, UUID, datetime]:
    branch = await make_branch()
    staff = await make_resource(branch.id, "staff", "王芳", ["massage"])
    made = await make_service(branch.id, "精油按摩", 60, [requirement("staff", "massage")], slot_step_minutes=30, **service)
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=5)
    return made.id, staff.id, day


async def test_a_group_class_booking_moves_within_its_own_session() -> None:
    service_id, _, day = await _one_therapist(seats=8)
    booking_id = await make_booking(service_id, day + timedelta(hours=10))

    await reschedule_booking(booking_id, day + timedelta(hours=10, minutes=30), actor=cli_actor())

    assert await _active_allocations(booking_id) == [day + timedelta(hours=10, minutes=30)]


async def test_a_refused_move_suggests_times_overlapping_the_bookings_own() -> None:
    service_id, _, day = await _one_therapist()
    moving = await make_booking(service_id, day + timedelta(hours=10))
    await make_booking(service_id, day + timedelta(hours=11, minutes=30), phone="+8613900000002")

    with pytest.raises(SlotUnavailable) as refused:
        await reschedule_booking(moving, day + timedelta(hours=11, minutes=30), actor=cli_actor())

    starts = [datetime.fromisoformat(a["starts_at"]) for a in refused.value.extra["alternatives"]]
    assert day + timedelta(hours=10, minutes=30) in starts  # free once the booking leaves 10:00–11:00


async def _reassigned_after(change: ServiceUpdate, starts: timedelta) -> tuple[Any, list[dict[str, Any]], UUID, datetime]:
    """A one-therapist booking `starts` after midnight, the service changed by `change`, then given a second
    therapist: the booking as moved, its active allocations, that therapist's id and the day."""
    service_id, _, day = await _one_therapist()  # 60 minutes on a 30-minute step
    booking_id = await make_booking(service_id, day + starts)
    branch_id = (await Booking.select(Booking.branch).where(Booking.id == booking_id).first() or {})["branch"]
    other = await make_resource(branch_id, "staff", "李娜", ["massage"])
    await update_service(service_id, change, actor=cli_actor())

    moved = await reassign_resource(booking_id, other.id, actor=cli_actor())

    held = await Allocation.select(Allocation.resource, Allocation.starts_at, Allocation.ends_at).where(
        (Allocation.booking == booking_id) & (Allocation.active == True)  # noqa: E712
    )
    return moved, held, other.id, day


async def test_a_reassignment_keeps_the_bookings_length_when_the_service_has_grown() -> None:
    moved, held, other, day = await _reassigned_after(ServiceUpdate(duration_minutes=90), timedelta(hours=10))

    assert [(h["resource"], h["ends_at"]) for h in held] == [(other, day + timedelta(hours=11))]
    assert moved.ends_at == day + timedelta(hours=11)


async def test_a_reassignment_keeps_a_start_the_services_new_slot_step_no_longer_offers() -> None:
    moved, held, other, day = await _reassigned_after(ServiceUpdate(slot_step_minutes=60), timedelta(hours=10, minutes=30))

    assert [(h["resource"], h["starts_at"]) for h in held] == [(other, day + timedelta(hours=10, minutes=30))]
    assert moved.starts_at == day + timedelta(hours=10, minutes=30)


async def test_a_price_beyond_the_column_for_all_seats_is_a_422_on_seats() -> None:
    branch = await make_branch()
    await make_resource(branch.id, "room", "大教室", ["yoga"])
    made = await make_service(branch.id, "瑜伽课", 60, [requirement("room", "yoga")], seats=50, price={"amount": 50_000_000, "currency": "VND"})
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=5)

    with pytest.raises(Invalid) as refused:
        await create_booking(NewBooking(
            service_id=made.id, starts_at=day + timedelta(hours=10), channel="admin", seats=50,
            customer=CustomerContact(name="韩梅梅", phone="+8613900000001"),
        ), actor=cli_actor(), staff=True)

    assert list(refused.value.fields) == ["seats"]
    assert await Booking.count() == 0


async def test_a_room_cannot_shrink_below_a_unit_a_booking_ahead_holds() -> None:
    branch = await make_branch()
    room = await make_resource(branch.id, "room", "双人房", ["spa"], capacity=2)
    made = await make_service(branch.id, "双人SPA", 60, [requirement("room", "spa")])
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=5)
    for n in (1, 2):
        await make_booking(made.id, day + timedelta(hours=10), phone=f"+861390000000{n}")

    with pytest.raises(Invalid) as refused:
        await update_resource(room.id, ResourceUpdate(capacity=1), actor=cli_actor())

    assert list(refused.value.fields) == ["capacity"]
    assert (await Resource.select(Resource.capacity).where(Resource.id == room.id).first() or {})["capacity"] == 2
