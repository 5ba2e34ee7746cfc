"""Importing past bookings, on both engines: customers found or made, facts recomputed, nothing blocked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from appliance.auth.actor import Actor, Grant, cli_actor
from appliance.auth.roles import Role
from appliance.bookings.tables import Allocation, Booking
from appliance.customers.merge import merge_customers
from appliance.customers.queries import find_customer_ids
from appliance.customers.tables import Customer
from appliance.testing.builders import make_branch, make_resource, make_service
from tests.appliance.imports.support import csv_bytes, imported

HEADERS = ["客户姓名", "手机", "服务项目", "门店", "技师", "预约时间", "状态", "金额"]


async def _shop() -> tuple[str, str]:
    branch = await make_branch("静安店")
    await make_resource(branch.id, name="王芳")
    service = await make_service(branch.id, "精油按摩", 60, price={"amount": 19800, "currency": "CNY"})
    return str(branch.id), str(service.id)


async def test_past_bookings_create_customers_and_their_facts(database: str) -> None:
    await _shop()
    rows = [
        HEADERS,
        ["张伟", "13800138000", "精油按摩", "静安店", "王芳", "2025-03-05 14:30", "已完成", "198"],
        ["张伟", "13800138000", "精油按摩", "静安店", "王芳", "2025-04-02 10:00", "已完成", "258.5"],
        ["", "13800138000", "精油按摩", "", "", "2025-05-01 10:00", "爽约", ""],  # named in an earlier row
        ["李娜", "13900139000", "精油按摩", "静安店", "", "2025/6/1 9:00", "已取消", ""],
    ]

    job = await imported(csv_bytes(rows), "bookings")

    assert (job.status, job.counts.created, job.counts.customers_created, job.counts.invalid) == ("done", 4, 2, 0)
    zhang = await Customer.select().where(Customer.id.is_in(await find_customer_ids(phone="+8613800138000"))).first()
    assert zhang is not None
    assert (zhang["visit_count"], zhang["lifetime_value"], zhang["no_show_count"]) == (2, 19800 + 25850, 1)
    assert zhang["last_visit_at"] == datetime(2025, 4, 2, 2, 0, tzinfo=UTC)
    assert zhang["favourite_staff"] is not None and zhang["usual_weekday"] == "wed"
    li = await Customer.select().where(Customer.id.is_in(await find_customer_ids(phone="+8613900139000"))).first()
    assert li is not None and li["cancellation_count"] == 1
    bookings = await Booking.select(Booking.status, Booking.channel, Booking.payment_status).order_by(Booking.starts_at)
    assert [(b["status"], b["payment_status"]) for b in bookings] == [
        ("completed", "paid"), ("completed", "paid"), ("no_show", "unpaid"), ("cancelled", "unpaid"),
    ]
    assert {b["channel"] for b in bookings} == {"import"}
    assert [a["active"] for a in await Allocation.select(Allocation.active)] == [False, False]  # who served, never a hold

    again = await imported(csv_bytes(rows), "bookings")
    assert (again.counts.created, again.counts.unchanged, again.counts.customers_created) == (0, 4, 0)
    assert await Booking.count() == 4


async def test_rows_that_cannot_be_history_are_reported(database: str) -> None:
    await _shop()
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d 10:00")
    rows = [
        HEADERS,
        ["张伟", "13800138000", "精油按摩", "静安店", "", future, "已完成", ""],
        ["张伟", "13800138000", "剪发", "静安店", "", "2025-03-05 14:30", "已完成", ""],
        ["张伟", "13800138000", "精油按摩", "徐汇店", "", "2025-03-05 14:30", "已完成", ""],
        ["张伟", "13800138000", "精油按摩", "静安店", "李雷", "2025-03-05", "进行中", "abc"],
        ["", "13700137000", "精油按摩", "静安店", "", "2025-03-05 14:30", "已完成", ""],
    ]

    job = await imported(csv_bytes(rows), "bookings", dry_run=True)

    assert [(p.row, p.column, p.code) for p in job.problems] == [
        (2, "预约时间", "not_in_past"), (3, "服务项目", "unknown_service"), (4, "门店", "unknown_branch"),
        (5, "状态", "invalid_status"), (5, "金额", "invalid_amount"), (6, "客户姓名", "unknown_customer"),
    ]
    assert job.counts.invalid == 5
    assert await Booking.count() == 0


async def test_a_manager_imports_only_into_their_branch(database: str) -> None:
    branch_id, _ = await _shop()
    other = await make_branch("徐汇店")
    await make_resource(other.id, name="李雷")
    await make_service(other.id, "面部护理", 60)
    manager = Actor(
        kind="user", id="manager-1", label="经理", auth_method="password",
        grants=(Grant(Role.manager, UUID(branch_id)),),
    )
    rows = [
        HEADERS,
        ["张伟", "13800138000", "精油按摩", "静安店", "", "2025-03-05 14:30", "已完成", ""],
        ["张伟", "13800138000", "面部护理", "徐汇店", "", "2025-03-06 14:30", "已完成", ""],
    ]

    job = await imported(csv_bytes(rows), "bookings", on_error="skip", actor=manager)

    assert [(p.row, p.code) for p in job.problems] == [(3, "branch_not_allowed")]
    assert (job.counts.created, await Booking.count()) == (1, 1)


async def test_a_booking_with_the_phone_of_a_merged_duplicate_goes_to_the_survivor(database: str) -> None:
    await _shop()
    first = [HEADERS, ["张伟", "13800138000", "精油按摩", "静安店", "王芳", "2025-03-05 14:30", "已完成", "198"]]
    second = [HEADERS, ["张伟", "13800138001", "精油按摩", "静安店", "王芳", "2025-04-02 10:00", "已完成", "198"]]
    await imported(csv_bytes(first), "bookings")
    await imported(csv_bytes(second), "bookings")
    [survivor] = await find_customer_ids(phone="+8613800138000")
    [duplicate] = await find_customer_ids(phone="+8613800138001")
    await merge_customers(survivor, duplicate, actor=cli_actor())

    job = await imported(csv_bytes([*second, ["", "13800138001", "精油按摩", "静安店", "", "2025-05-01 10:00", "已完成", "198"]]), "bookings")

    assert (job.status, job.counts.created, job.counts.unchanged, job.counts.customers_created) == ("done", 1, 1, 0)
    owners = await Booking.select(Booking.customer).order_by(Booking.starts_at)
    assert [b["customer"] for b in owners] == [survivor, survivor, survivor]
    kept = await Customer.select(Customer.visit_count).where(Customer.id == survivor).first()
    assert kept is not None and kept["visit_count"] == 3


async def test_a_past_booking_longer_than_any_allocation_is_a_row_problem_not_a_failed_job(database: str) -> None:
    await _shop()
    rows = [
        [*HEADERS, "结束时间"],
        ["张伟", "13800138000", "精油按摩", "静安店", "王芳", "2025-03-05 14:30", "已完成", "198", "2025-03-09 14:30"],
        ["李娜", "13900139000", "精油按摩", "静安店", "王芳", "2025-03-06 10:00", "已完成", "198", "2025-03-06 11:00"],
    ]

    job = await imported(csv_bytes(rows), "bookings", on_error="skip")

    assert job.status == "done"  # it was "failed", an internal error, and the good row not written
    assert [(p.row, p.column, p.code) for p in job.problems] == [(2, "结束时间", "too_long")]
    assert (job.counts.created, job.counts.invalid) == (1, 1)
    assert await Booking.count() == 1
