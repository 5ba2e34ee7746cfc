"""The calendar query on both engines: exactly the held rows the engine needs, to the microsecond; and
the allocation guards it relies on, enforced by each database itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from appliance.auth.actor import cli_actor
from appliance.bookings.actions import NewBooking, create_booking
from appliance.bookings.logic import Held
from appliance.bookings.queries import (
    LONGEST_ALLOCATION, BookingFilter, kinds_needed, list_bookings, load_calendars, load_service,
)
from appliance.bookings.tables import Allocation
from appliance.core.db import is_overlap_violation
from appliance.customers.queries import find_customer_ids
from appliance.customers.schemas import CustomerContact
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service, requirement

pytestmark = pytest.mark.usefixtures("database")

SHANGHAI = ZoneInfo("Asia/Shanghai")


def block(resource_id: object, starts_at: datetime, ends_at: datetime, *, unit: int = 0, active: bool = True) -> Allocation:
    """An allocation of no booking (as a resource block is), written straight to the table."""
    return Allocation(
        id=uuid4(), booking=None, resource=resource_id, unit=unit, holder=f"block-{uuid4()}",
        starts_at=starts_at, ends_at=ends_at, active=active,
    )


async def test_plain_allocations_come_back_exact_to_the_microsecond_and_only_inside_the_window() -> None:
    branch = await make_branch()
    room = await make_resource(branch.id, "room", "一号房", ["spa"], capacity=2)
    elsewhere = await make_resource((await make_branch("徐汇店")).id, "room", "别店房", ["spa"])
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=10)
    odd = (day + timedelta(hours=10, seconds=7, microseconds=123_456), day + timedelta(hours=11, microseconds=5))
    await Allocation.insert(
        block(room.id, *odd, unit=1),
        block(room.id, day + timedelta(hours=12), day + timedelta(hours=13)),
        block(room.id, day + timedelta(hours=14), day + timedelta(hours=15), active=False),
        block(room.id, day + timedelta(days=9), day + timedelta(days=9, hours=1)),  # far outside the window
        block(elsewhere.id, day + timedelta(hours=10), day + timedelta(hours=11)),
    )

    calendars, seats_taken = await load_calendars(branch.id, day, day + timedelta(days=1))

    assert [c.id for c in calendars] == [room.id]
    assert sorted(calendars[0].held) == [
        Held.between(odd[0], odd[1], 1, ""),
        Held.between(day + timedelta(hours=12), day + timedelta(hours=13), 0, ""),
    ]
    assert Held(*sorted(calendars[0].held)[0]).starts_at == odd[0].astimezone(UTC)
    assert seats_taken == {}


async def test_group_class_rows_keep_their_holder_and_seats_and_one_booking_can_be_left_out() -> None:
    branch = await make_branch()
    room = await make_resource(branch.id, "room", "瑜伽室", ["yoga"])
    service = await make_service(branch.id, "瑜伽课", 60, [requirement("room", "yoga")], seats=6)
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=10)
    starts_at = day + timedelta(hours=10)
    booked = [
        await create_booking(
            NewBooking(
                service_id=service.id, starts_at=starts_at, channel="admin", seats=seats,
                customer=CustomerContact(name=f"学员{n}", phone=f"+8613800000{n:03d}"),
            ),
            actor=cli_actor(), staff=True,
        )
        for n, seats in enumerate((2, 1))
    ]
    a_block = (day + timedelta(hours=15), day + timedelta(hours=16))
    await Allocation.insert(block(room.id, *a_block))

    calendars, seats_taken = await load_calendars(branch.id, day, day + timedelta(days=1))
    (holder,) = seats_taken
    assert seats_taken == {holder: 3}
    group_rows = [Held(*h) for h in calendars[0].held if h[3] == holder]
    assert len(group_rows) == 2 and {(h.starts_at, h.ends_at) for h in group_rows} == {(starts_at, starts_at + timedelta(hours=1))}

    calendars, seats_taken = await load_calendars(
        branch.id, day, day + timedelta(days=1), exclude_booking=booked[0].booking.id
    )
    assert seats_taken == {holder: 1}
    assert Held.between(*a_block, 0, "") in calendars[0].held  # an allocation of no booking is never left out


async def test_a_calendar_of_some_kinds_holds_only_their_resources_with_everything_they_hold() -> None:
    branch = await make_branch()
    staff = await make_resource(branch.id, "staff", "王技师", ["massage"])
    room = await make_resource(branch.id, "room", "一号房", ["spa"])
    laser = await make_resource(branch.id, "equipment", "激光仪", ["laser"])
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=10)
    hour = (day + timedelta(hours=10), day + timedelta(hours=11))
    await Allocation.insert(*(block(r.id, *hour) for r in (staff, room, laser)))
    service = await make_service(branch.id, "精油按摩", 60, [requirement("staff", "massage"), requirement("room", "spa")])
    ctx = await load_service(service.id)

    kinds = kinds_needed(ctx.rules)
    calendars, _ = await load_calendars(branch.id, day, day + timedelta(days=1), kinds=kinds)
    everything, _ = await load_calendars(branch.id, day, day + timedelta(days=1))

    assert kinds == {"staff", "room"}
    assert sorted(c.id for c in calendars) == sorted([staff.id, room.id])
    assert sorted(c.id for c in everything) == sorted([staff.id, room.id, laser.id])
    by_id = {c.id: c for c in everything}
    assert all(c.held == by_id[c.id].held and c.hours == by_id[c.id].hours for c in calendars)
    # A caller naming resources of its own gets every kind: the ones named are checked against all.
    assert kinds_needed(ctx.rules, [laser.id]) is None


# --- What the database itself refuses --------------------------------------------------------------


async def test_the_database_refuses_an_overlap_even_with_one_that_started_the_longest_allocation_before() -> None:
    branch = await make_branch()
    room = await make_resource(branch.id, "room", "一号房", ["spa"])
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=10)
    longest = day + LONGEST_ALLOCATION - timedelta(minutes=1)  # the longest the database allows
    await Allocation.insert(block(room.id, day, longest))

    with pytest.raises(Exception) as refused:
        await Allocation.insert(block(room.id, longest - timedelta(minutes=1), longest + timedelta(hours=1)))
    assert is_overlap_violation(refused.value)
    await Allocation.insert(block(room.id, longest, longest + timedelta(hours=1)))  # touching is fine
    assert await Allocation.count() == 2


async def test_the_database_refuses_an_allocation_longer_than_the_bound_or_ending_before_it_starts() -> None:
    branch = await make_branch()
    room = await make_resource(branch.id, "room", "一号房", ["spa"])
    day = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=10)
    for ends_at in (day + LONGEST_ALLOCATION, day, day - timedelta(hours=1)):
        with pytest.raises(Exception, match="allocation_length"):
            await Allocation.insert(block(room.id, day, ends_at))
    assert await Allocation.count() == 0


async def test_the_list_filters_by_service_and_by_any_of_several_customers() -> None:
    branch = await make_branch()
    await make_resource(branch.id, name="王芳")
    await make_resource(branch.id, name="李娜")
    massage = await make_service(branch.id, "精油按摩")
    foot = await make_service(branch.id, "足疗", 45)
    day = datetime.now(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=3)
    han = await make_booking(massage.id, day, phone="+8613900000001")
    li = await make_booking(foot.id, day + timedelta(hours=2), phone="+8613900000002")
    await make_booking(massage.id, day + timedelta(hours=4), phone="+8613900000003")
    both = tuple(await find_customer_ids(phone="+8613900000001") + await find_customer_ids(phone="+8613900000002"))

    async def ids(filters: BookingFilter) -> list[UUID]:
        items, _ = await list_bookings(filters, actor=cli_actor(), after=None, limit=50)
        return [b.id for b in items]

    assert await ids(BookingFilter(service_id=foot.id)) == [li]
    assert await ids(BookingFilter(customer_ids=both)) == [han, li]
    assert await ids(BookingFilter(customer_ids=both, service_id=massage.id)) == [han]
    assert await ids(BookingFilter(customer_ids=())) == []
