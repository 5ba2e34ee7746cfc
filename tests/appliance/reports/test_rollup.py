"""The report rollups a report reads are what a rebuild from the bookings gives, after each kind of change made
through the actions (create, reschedule across days, reassign, payment, survey answer, complete, cancel, merge, a
branch's time-zone change, an import of past bookings, the demo and its reset), on both engines: the changes
mark their days stale and the report derives them again before it reads."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from appliance.bookings import actions as bookings
from appliance.bookings.queries import get_booking
from appliance.bookings.states import PaymentStatus
from appliance.bookings.tables import Booking
from appliance.catalog.actions import update_branch
from appliance.catalog.schemas import BranchUpdate
from appliance.customers.merge import merge_customers
from appliance.demo.actions import seed_demo
from appliance.reports.logic import parse_query
from appliance.reports.queries import run_report
from appliance.reports.rollup_sql import TABLES
from appliance.surveys.actions import answer_survey, invite
from appliance.surveys.schemas import SurveyAnswerCreate
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service
from tests.appliance.imports.support import csv_bytes, imported
from tests.appliance.reports.rollups import ACTOR, SHANGHAI, day_rows, kept, local, salon


async def test_a_booking_s_life_keeps_its_days_rows_right(database: str) -> None:
    branch, first, second, service = await salon()
    day1 = datetime.now(SHANGHAI).date() + timedelta(days=10)
    day2 = day1 + timedelta(days=1)
    booking_id = await make_booking(service.id, local(day1, 10))
    staff = (await get_booking(booking_id, actor=ACTOR)).resource_ids[0]
    other = second.id if staff == first.id else first.id

    await kept(day1, day1)
    [row] = await day_rows("report_booking_day", day1)
    assert (row["bookings"], row["earning"]) == (1, 0)
    [held] = await day_rows("report_resource_day", day1, resource=staff)
    assert (held["bookings"], held["booked_seconds"]) == (1, 3600)

    await bookings.reschedule_booking(booking_id, local(day2, 7), actor=ACTOR)  # 07:00 local: 23:00 UTC on day1
    await kept(day1, day2)
    assert await day_rows("report_booking_day", day1) == []
    assert await day_rows("report_customer_day", day1) == []
    assert [r["bookings"] for r in await day_rows("report_booking_day", day2)] == [1]

    await bookings.reassign_resource(booking_id, other, actor=ACTOR)
    await bookings.set_payment_status(booking_id, PaymentStatus.paid, actor=ACTOR)
    await kept(day2, day2)
    assert [(r["resource"], r["earning"], r["revenue"]) for r in await day_rows("report_resource_day", day2)] == [(other, 1, 19800)]

    await bookings.transition_booking(booking_id, "complete", actor=ACTOR)
    await answer_survey(await invite(booking_id), SurveyAnswerCreate(rating=4), ip=None, request_id=None)
    second_id = await make_booking(service.id, local(day2, 10), phone="+8613900000002")
    await bookings.transition_booking(second_id, "cancel", actor=ACTOR)
    await kept(day2, day2)
    [row] = await day_rows("report_booking_day", day2)
    assert (row["bookings"], row["completed"], row["cancelled"], row["earning"]) == (2, 1, 1, 1)
    [credit] = [r for r in await day_rows("report_resource_day", day2) if r["ratings"]]
    assert (credit["resource"], credit["rating_sum"]) == (other, 4)
    visits = {(r["customer"], r["visits"]) for r in await day_rows("report_customer_day", day2)}
    assert len(visits) == 2 and sorted(v for _, v in visits) == [0, 1]


async def test_a_merge_moves_the_customer_days_and_a_zone_change_moves_the_days(database: str) -> None:
    branch, _, _, service = await salon()
    day = datetime.now(SHANGHAI).date() + timedelta(days=10)
    kept_id = await make_booking(service.id, local(day, 10), phone="+8613900000001")
    gone_id = await make_booking(service.id, local(day, 12), phone="+8613900000002")
    survivor = (await get_booking(kept_id, actor=ACTOR)).customer_id
    duplicate = (await get_booking(gone_id, actor=ACTOR)).customer_id

    await merge_customers(survivor, duplicate, actor=ACTOR)

    await kept()
    assert {r["customer"] for r in await day_rows("report_customer_day", day)} == {survivor}

    await update_branch(branch.id, BranchUpdate(timezone="America/New_York"), actor=ACTOR)  # 10:00 Shanghai: 21:00 or 22:00 the day before

    await kept()
    assert await day_rows("report_booking_day", day) == []
    assert [(r["bookings"], r["zone"]) for r in await day_rows("report_booking_day", day - timedelta(days=1))] == [(2, "America/New_York")]


async def test_imported_past_bookings_are_counted(database: str) -> None:
    branch = await make_branch("静安店")
    await make_resource(branch.id, name="王芳")
    await make_service(branch.id, "精油按摩", 60, price={"amount": 19800, "currency": "CNY"})
    rows = [
        ["客户姓名", "手机", "服务项目", "门店", "技师", "预约时间", "状态", "金额"],
        ["张伟", "13800138000", "精油按摩", "静安店", "王芳", "2025-03-05 23:30", "已完成", "198"],
        ["李娜", "13900139000", "精油按摩", "静安店", "", "2025-03-06 09:00", "已取消", ""],
    ]

    job = await imported(csv_bytes(rows), "bookings")

    assert job.counts.created == 2
    await kept()
    query = parse_query("volume", from_="2025-03-01", to="2025-03-31", bucket="day", branch_id=None, format_=None)
    table = await run_report(query, actor=ACTOR)
    assert {r["period"]: (r["completed"], r["cancelled"]) for r in table.rows if r["bookings"]} == {
        "2025-03-05": (1, 0), "2025-03-06": (0, 1),
    }
    revenue = await run_report(parse_query(
        "revenue_by_service", from_="2025-03-01", to="2025-03-31", bucket=None, branch_id=None, format_=None,
    ), actor=ACTOR)
    assert [(r["service"], r["bookings"], r["revenue"]) for r in revenue.rows] == [("精油按摩", 1, 19800)]


async def test_the_demo_and_its_reset_leave_rollups_a_rebuild_agrees_with(database: str) -> None:
    today = date(2026, 6, 15)
    await seed_demo(actor=ACTOR, today=today)
    seeded = await kept()
    assert all(seeded[table] for table in TABLES)
    before = await Booking.count()

    await seed_demo(actor=ACTOR, today=today + timedelta(days=40), reset=True)

    assert await kept() != seeded
    assert await Booking.count() > 0 and before > 0


async def test_concurrent_bookings_of_one_day_are_each_counted_once(database: str) -> None:
    """Each marks the day in its own transaction; the report derives it with all four."""
    _, _, _, service = await salon()
    day = datetime.now(SHANGHAI).date() + timedelta(days=10)

    await asyncio.gather(*(
        make_booking(service.id, local(day, hour), phone=f"+86139000000{hour:02d}") for hour in (8, 10, 12, 14)
    ))

    await kept()
    assert [r["bookings"] for r in await day_rows("report_booking_day", day)] == [4]
