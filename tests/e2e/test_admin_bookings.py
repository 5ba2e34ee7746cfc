"""Front desk finds a booking by the customer's phone, checks the customer in and completes it; a manager
and then the owner decide a two-level approval in the queue. Each page passes axe-core and is kept as a
screenshot."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.automation.actions import create_rule
from appliance.automation.schemas import RuleCreate
from appliance.automation.tables import Approval
from appliance.bookings.tables import Booking
from appliance.testing.builders import DEFAULT_PASSWORD, make_booking, make_branch, make_resource, make_service, make_user
from tests.e2e.conftest import Server, SignedIn, screenshot, serious_accessibility_problems

SHANGHAI = ZoneInfo("Asia/Shanghai")


def in_days(days: int, hour: int) -> datetime:
    day = datetime.now(SHANGHAI).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI)


def check(page: Page, name: str) -> None:
    assert serious_accessibility_problems(page) == [], name
    screenshot(page, name)


async def _status(booking_id: UUID) -> str:
    return str((await Booking.select(Booking.status).where(Booking.id == booking_id).first())["status"])


async def _front_desk_scene() -> tuple[UUID, UUID]:
    branch = await make_branch("前台测试店")
    await make_resource(branch.id, name="周芷若")
    service = await make_service(branch.id, "肩颈护理", price={"amount": 16800, "currency": "CNY"})
    booking = await make_booking(service.id, in_days(1, 11), name="郭襄", phone="+8613700000123")
    await make_user("desk.form", Role.front_desk)
    return branch.id, booking


def test_a_front_desk_user_logs_in_finds_the_booking_checks_the_customer_in_and_completes_it(
    new_page: Callable[..., Page], server: Server
) -> None:
    branch_id, booking_id = server.run(_front_desk_scene())
    page = new_page()

    page.goto(f"/admin/bookings?branch_id={branch_id}")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("用户名").fill("desk.form")
    page.get_by_label("密码").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="预约", exact=True)).to_be_visible()

    page.get_by_label("客户手机号或姓名").fill("13700000123")
    page.get_by_role("button", name="搜索").click()
    rows = page.locator("table.bookings tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("郭襄")
    check(page, "admin-bookings")

    rows.first.get_by_role("link").click()
    expect(page.locator("#booking-status")).to_have_text("已确认")
    check(page, "admin-booking")
    page.get_by_role("button", name="到店签到").click()
    expect(page.locator("#booking-status")).to_have_text("已到店")
    assert server.run(_status(booking_id)) == "checked_in"
    page.get_by_role("button", name="完成").click()
    expect(page.locator("#booking-status")).to_have_text("已完成")
    expect(page.locator(".timeline")).to_contain_text("已到店")
    assert server.run(_status(booking_id)) == "completed"


async def _approval_scene() -> tuple[UUID, UUID]:
    branch = await make_branch("审批测试店")
    await make_resource(branch.id, name="医生", skills=["laser"])
    laser = await make_service(branch.id, "激光美肤", 60, [{"kind": "staff", "skills": ["laser"], "count": 1}],
                               requires_approval=True)
    await create_rule(RuleCreate(
        name="激光美肤两级审批", trigger={"event": "booking.created"},
        conditions={"all": [{"field": "service.id", "op": "eq", "value": str(laser.id)}]},
        actions=[{"type": "require_approval", "levels": [
            {"approver_role": "manager", "time_limit_minutes": 600},
            {"approver_role": "owner", "time_limit_minutes": 600},
        ]}],
    ), actor=cli_actor())
    return branch.id, laser.id


async def _approval_level(booking_id: UUID) -> Any:
    row = await Approval.select(Approval.level, Approval.status).where(Approval.booking == booking_id).first()
    return (row["level"], row["status"]) if row else None


def _wait_for_approval(server: Server, booking_id: UUID) -> None:
    """The server's worker runs the rule after the booking commits: wait for its approval to exist."""
    deadline = time.monotonic() + 60  # readiness, not an assertion about speed
    while server.run(_approval_level(booking_id)) is None:
        assert time.monotonic() < deadline, "the approval rule never ran"
        time.sleep(0.2)


def test_a_manager_approves_the_first_level_and_the_owner_the_second_and_the_booking_is_confirmed(
    signed_in: Callable[..., SignedIn], server: Server
) -> None:
    branch_id, service_id = server.run(_approval_scene())
    manager = signed_in(Role.manager)
    created = manager.page.context.request.post("/api/v1/bookings", headers={"X-CSRF-Token": manager.csrf_token}, data={
        "service_id": str(service_id), "starts_at": in_days(6, 15).isoformat(),
        "customer": {"name": "程英", "phone": "+8613700000456"},
    })
    assert created.status == 201, created.text()
    booking_id = UUID(created.json()["booking"]["id"])
    _wait_for_approval(server, booking_id)

    page = manager.page
    page.goto("/admin/bookings/approvals")
    card = page.locator("li.approval").filter(has_text="激光美肤")
    expect(card).to_contain_text("第 1 级，共 2 级")
    check(page, "admin-approvals")
    card.get_by_role("button", name="批准第 1 级").click()
    expect(card).to_contain_text("第 2 级，共 2 级")
    expect(card).to_contain_text("等待其他审批人")  # level 2 is the owner's
    assert server.run(_approval_level(booking_id)) == (2, "pending")
    assert server.run(_status(booking_id)) == "pending_approval"

    owner = signed_in(Role.owner).page
    owner.goto("/admin/bookings/approvals")
    owner_card = owner.locator("li.approval").filter(has_text="激光美肤")
    owner_card.get_by_role("button", name="批准第 2 级").click()
    expect(owner_card).to_have_count(0)
    assert server.run(_approval_level(booking_id)) == (2, "approved")
    assert server.run(_status(booking_id)) == "confirmed"
    owner.goto(f"/admin/bookings/{booking_id}")
    expect(owner.locator("#booking-status")).to_have_text("已确认")
    expect(owner.locator(".timeline")).to_contain_text("审批级别已决定")
