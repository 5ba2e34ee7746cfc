"""Derived facts on both engines: kept current in the transaction of the booking change that affects them
(no worker involved), and rolled back with it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from uuid import UUID

import pytest

from appliance.auth.actor import cli_actor
from appliance.bookings import actions as bookings
from appliance.bookings.queries import get_booking
from appliance.bookings.states import PaymentStatus
from appliance.core.db import write_transaction
from appliance.customers.facts import refresh_facts
from appliance.customers.tables import Customer
from appliance.events.tables import Delivery
from tests.appliance.customers.support import PRICE, SHANGHAI, book, complete, pay, shop, slot


async def facts(booking_id: UUID) -> dict[str, object]:
    customer = (await get_booking(booking_id, actor=cli_actor())).customer_id
    row = await Customer.select().where(Customer.id == customer).first()
    assert row is not None
    return row


async def test_visits_no_shows_cancellations_and_value_follow_each_booking_change_at_once(database: str) -> None:
    place = await shop()
    kept, called_off, prepaid = [await book(place.service_id, 2, hour, 1) for hour in (10, 12, 14)]

    await complete(kept)
    after_visit = await facts(kept)
    await bookings.transition_booking(called_off, "cancel", actor=cli_actor())
    await pay(prepaid)
    await pay(kept)
    await pay(kept, PaymentStatus.refunded)

    row = await facts(kept)
    assert (after_visit["visit_count"], after_visit["lifetime_value"]) == (1, PRICE)
    assert after_visit["last_visit_at"] == slot(2, 10)
    assert (row["visit_count"], row["cancellation_count"], row["no_show_count"]) == (1, 1, 0)
    assert row["lifetime_value"] == PRICE  # the prepaid one; the refunded visit no longer counts
    assert not await Delivery.count()  # nothing waited for a worker


async def test_favourite_service_and_staff_and_usual_weekday_and_hour_come_from_visits(database: str) -> None:
    place = await shop()
    visits = [
        await book(place.facial_id, 2, 17, 1), await book(place.facial_id, 9, 17, 1), await book(place.service_id, 3, 11, 1),
    ]
    for booking_id in visits:
        await complete(booking_id)

    row = await facts(visits[0])
    assert row["favourite_service"] == place.facial_id
    assert row["favourite_staff"] == place.staff_id
    day = slot(2, 17).astimezone(SHANGHAI)
    assert (row["usual_weekday"], row["usual_hour"]) == (("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()], 17)


async def test_facts_roll_back_with_the_booking_change(database: str) -> None:
    place = await shop()
    booking_id = await book(place.service_id, 2, 10, 1)

    with pytest.raises(RuntimeError):
        async with write_transaction():
            await complete(booking_id)
            assert (await facts(booking_id))["visit_count"] == 1  # inside: already current
            raise RuntimeError("the change fails after all")

    row = await facts(booking_id)
    assert (row["visit_count"], row["lifetime_value"], row["facts_updated_at"]) == (0, 0, None)


async def test_recomputing_changes_nothing_that_was_current(database: str) -> None:
    place = await shop()
    booking_id = await book(place.service_id, 2, 10, 1)
    await complete(booking_id)
    before = await facts(booking_id)

    async with write_transaction():
        await refresh_facts([UUID(str(before["id"]))])

    after = await facts(booking_id)
    assert {k: v for k, v in after.items() if k != "facts_updated_at"} == {k: v for k, v in before.items() if k != "facts_updated_at"}
    assert isinstance(after["facts_updated_at"], datetime)


async def test_two_visits_completed_at_once_both_count(database: str) -> None:
    place = await shop()
    first, second = await book(place.service_id, 2, 10, 1), await book(place.facial_id, 2, 12, 1)

    await asyncio.gather(complete(first), complete(second))

    row = await facts(first)
    assert (row["visit_count"], row["lifetime_value"]) == (2, PRICE + 39800)
