"""Stale marks: a booking change writes one mark per start it touched, in one statement, and derives nothing;
a report takes in the marks of its period (one over first visits, every mark of its branches), the sweeper
the oldest; a refresh deletes only the marks it read; a merge and its undo mark both customers' bookings; a
branch's time-zone change rebuilds it, marks and all. On both engines."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from appliance.bookings import actions as bookings
from appliance.bookings.queries import get_booking
from appliance.bookings.tables import Booking
from appliance.catalog.actions import update_branch
from appliance.catalog.schemas import BranchUpdate
from appliance.core.db import instant_value, uuid_value
from appliance.customers.merge import merge_customers, undo_merge
from appliance.events.sweeper import every_pass
from appliance.reports.rollup import rebuild
from appliance.reports.rollup_sql import TABLES
from appliance.reports.stale import refresh_oldest
from appliance.settings import Settings
from appliance.testing.builders import make_booking
from tests.appliance.reports.rollups import ACTOR, SHANGHAI, day_rows, kept, local, report, rollups, salon
from tests.appliance.reports.statements import counted_statements


async def _marks() -> list[tuple[datetime, UUID]]:
    """(start, customer) of every mark, oldest first."""
    rows = await Booking.raw("SELECT starts_at, customer FROM report_stale ORDER BY id")
    return [(instant_value(r["starts_at"]), uuid_value(r["customer"])) for r in rows]


async def _customer(booking_id: UUID) -> UUID:
    return (await get_booking(booking_id, actor=ACTOR)).customer_id


def _soon(days: int) -> datetime:
    return datetime.now(SHANGHAI) + timedelta(days=days)


async def test_a_booking_change_marks_its_starts_in_one_statement_and_derives_nothing(database: str) -> None:
    _, _, _, service = await salon()
    day = _soon(10).date()
    await make_booking(service.id, local(day, 10))  # the customer exists now, and every statement ran once

    with counted_statements() as created:
        booking_id = await make_booking(service.id, local(day, 11))
    with counted_statements() as moved:
        await bookings.reschedule_booking(booking_id, local(day + timedelta(days=1), 9), actor=ACTOR)

    customer = await _customer(booking_id)
    for seen in (created, moved):
        [marking] = [q for q in seen if "report_" in q]
        assert marking.count("INSERT INTO report_stale") == 1
        # On PostgreSQL the mark rides in the commit's statement with the audit entry and the event.
        assert ("INSERT INTO audit_entry" in marking) == (database == "postgresql")
    assert await _marks() == [
        (local(day, 10), customer), (local(day, 11), customer),
        (local(day + timedelta(days=1), 9), customer), (local(day, 11), customer),  # the new start, the old
    ]
    assert all(rows == [] for rows in (await rollups()).values())


async def test_a_report_takes_in_the_marks_of_its_period_and_answers_exactly(database: str) -> None:
    _, _, _, service = await salon()
    near, far = _soon(5).date(), _soon(25).date()
    near_id = await make_booking(service.id, local(near, 10))
    await make_booking(service.id, local(far, 10), phone="+8613900000002")

    first = await report("volume", near, near)
    await bookings.transition_booking(near_id, "cancel", actor=ACTOR)
    again = await report("volume", near, near)

    assert [(r["bookings"], r["cancelled"]) for r in first.rows] == [(1, 0)]
    assert [(r["bookings"], r["cancelled"]) for r in again.rows] == [(1, 1)]
    assert [start for start, _ in await _marks()] == [local(far, 10)]  # outside the period: left for later
    await kept()


async def test_a_report_over_first_visits_takes_in_every_mark_of_its_branches(database: str) -> None:
    _, _, _, service = await salon()
    later, earlier = _soon(20).date(), _soon(5).date()
    await make_booking(service.id, local(later, 10))
    assert [(r["new"], r["returning"]) for r in (await report("new_vs_returning", later, later)).rows] == [(1, 0)]

    await make_booking(service.id, local(earlier, 10))  # the same customer, before: the later visit is a return

    assert [(r["new"], r["returning"]) for r in (await report("new_vs_returning", later, later)).rows] == [(0, 1)]
    assert await _marks() == []


async def test_the_sweeper_takes_in_the_oldest_marks(database: str) -> None:
    _, _, _, service = await salon()
    days = [_soon(n).date() for n in (7, 8, 9)]
    for n, day in enumerate(days):
        await make_booking(service.id, local(day, 10), phone=f"+861390000000{n}")

    assert await refresh_oldest(limit=2) == 2

    assert [start for start, _ in await _marks()] == [local(days[2], 10)]
    assert [[r["bookings"] for r in await day_rows("report_booking_day", day)] for day in days] == [[1], [1], []]
    assert (await every_pass())["report marks refreshed"] == 1
    assert await _marks() == []
    await kept()


async def test_a_refresh_deletes_only_the_marks_it_read(database: str, settings: Settings) -> None:
    """A booking commits while a report's refresh is under way, after the refresh derived the day: its mark
    must outlive that refresh, or its booking would be missing from the rollups for good."""
    if database != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no booking commits while a refresh is open")
    _, _, _, service = await salon()
    day = _soon(10).date()
    await make_booking(service.id, local(day, 10))
    await report("volume", day, day)  # the customer's first visit is a row now
    await make_booking(service.id, local(day, 11))  # the same customer: a refresh derives that row again

    blocker = await asyncpg.connect(settings.database_url)
    try:
        holding = blocker.transaction()
        await holding.start()
        # The refresh derives the day, then waits to delete the customer's first visit.
        await blocker.execute("SELECT customer FROM report_customer_first FOR UPDATE")
        under_way = asyncio.create_task(report("volume", day, day))
        while not await Booking.raw(  # asked outside the blocker's transaction, which sees one snapshot of it
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ):
            await asyncio.sleep(0.01)
        await make_booking(service.id, local(day, 12), phone="+8613900000002")
        await holding.rollback()
        held = await under_way
    finally:
        await blocker.close()

    assert [r["bookings"] for r in held.rows] == [2]  # derived before the third booking committed
    assert [start for start, _ in await _marks()] == [local(day, 12)]
    assert [r["bookings"] for r in (await report("volume", day, day)).rows] == [3]
    await kept()


async def test_a_merge_and_its_undo_mark_both_customers_bookings(database: str) -> None:
    _, _, _, service = await salon()
    day = _soon(10).date()
    kept_id = await make_booking(service.id, local(day, 10), phone="+8613900000001")
    gone_id = await make_booking(service.id, local(day + timedelta(days=1), 12), phone="+8613900000002")
    survivor, duplicate = await _customer(kept_id), await _customer(gone_id)
    await kept()
    starts = {local(day, 10), local(day + timedelta(days=1), 12)}
    both = sorted((start, customer) for start in starts for customer in (survivor, duplicate))

    merge = await merge_customers(survivor, duplicate, actor=ACTOR)

    assert sorted(await _marks()) == both
    await kept()
    assert {r["customer"] for r in await day_rows("report_customer_day", day + timedelta(days=1))} == {survivor}

    await undo_merge(merge.id, actor=ACTOR)

    assert sorted(await _marks()) == both
    await kept()
    assert {r["customer"] for r in await day_rows("report_customer_day", day + timedelta(days=1))} == {duplicate}


async def test_a_time_zone_change_rebuilds_the_branch_with_its_marks(database: str) -> None:
    branch, _, _, service = await salon()
    _, _, _, elsewhere = await salon("徐汇店")
    day = _soon(10).date()
    await make_booking(service.id, local(day, 10))
    await kept()
    await make_booking(service.id, local(day, 12), phone="+8613900000002")
    await make_booking(elsewhere.id, local(day, 12), phone="+8613900000003")

    await update_branch(branch.id, BranchUpdate(timezone="America/New_York"), actor=ACTOR)

    assert len(await _marks()) == 1  # the other branch's: still to take in
    rows = await Booking.raw("SELECT day, zone, bookings FROM report_booking_day WHERE branch = {}", branch.id)
    assert [(str(r["day"]), r["zone"], r["bookings"]) for r in rows] == [
        (str(day - timedelta(days=1)), "America/New_York", 2)
    ]
    await kept()


async def test_a_rebuild_takes_every_mark_with_it(database: str) -> None:
    """As `appliance reports rebuild` runs it: the rollups whole, nothing left stale."""
    _, _, _, service = await salon()
    await make_booking(service.id, local(_soon(10).date(), 10))

    await rebuild()

    found = await rollups()
    assert await _marks() == []
    assert all(found[table] for table in TABLES)
