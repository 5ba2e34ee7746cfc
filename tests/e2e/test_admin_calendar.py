"""The calendar in a browser whose time zone is not the branch's: bookings sit at the branch's wall-clock
times; dragging one onto another's time on the same staff member is refused (the reason said, the booking
put back, the database unchanged), a drag to a free time moves it, and a click on an empty time books it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect

from appliance.auth.roles import Role
from appliance.bookings.tables import Booking
from appliance.customers.queries import find_customer_ids
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service
from tests.e2e.conftest import Server, SignedIn, screenshot, serious_accessibility_problems

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _scene(day: datetime) -> tuple[UUID, UUID, UUID]:
    branch = await make_branch("日历测试店")
    await make_resource(branch.id, name="赵敏")
    await make_resource(branch.id, "room", name="一号房", skills=["quiet"])
    service = await make_service(branch.id, "推拿", 60)
    early = await make_booking(service.id, day.replace(hour=10), name="张无忌", phone="+8613600000001")
    late = await make_booking(service.id, day.replace(hour=13), name="殷离", phone="+8613600000002")
    return branch.id, early, late


async def _start_of(booking_id: UUID) -> datetime:
    row = await Booking.select(Booking.starts_at).where(Booking.id == booking_id).first()
    starts_at: datetime = row["starts_at"]
    return starts_at


async def _starts_by_phone(phone: str) -> list[datetime]:
    customers = await find_customer_ids(phone=phone)
    rows = await Booking.select(Booking.starts_at).where(Booking.customer.is_in(customers or [UUID(int=0)]))
    return [r["starts_at"] for r in rows]


def _drag(page: Page, event: Locator, pixels: float) -> None:
    """Press on the event, move it `pixels` down in steps (event-calendar starts a drag after a few), release.
    Measured just before (a message above the calendar may have moved it), once the events are in."""
    expect(page.locator("#calendar")).to_have_attribute("aria-busy", "false")
    expect(event).to_be_visible()
    box = event.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + 6
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 10, steps=4)
    page.mouse.move(x, y + pixels, steps=12)
    page.mouse.up()


def test_a_drag_in_the_calendar_that_would_conflict_is_refused_and_a_free_one_moves_the_booking(
    signed_in: Callable[..., SignedIn], server: Server
) -> None:
    local = datetime.now(SHANGHAI).date() + timedelta(days=5)
    day = datetime(local.year, local.month, local.day, tzinfo=SHANGHAI)
    branch_id, early, late = server.run(_scene(day))
    # Tall enough to show the whole day: a drag near the window's edge would scroll the calendar under it.
    page = signed_in(Role.front_desk, viewport={"width": 1280, "height": 1600}).page
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTimezoneOverride", {"timezoneId": "America/New_York"})  # 13 hours behind the branch
    policy_problems: list[str] = []
    page.on("console", lambda m: policy_problems.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"/admin/calendar?branch_id={branch_id}&day={local.isoformat()}")
    first = page.locator(".ec-event").filter(has_text="张无忌")
    second = page.locator(".ec-event").filter(has_text="殷离")
    expect(first).to_contain_text("10:00")
    expect(second).to_contain_text("13:00")
    assert page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-calendar")

    first_box, second_box = first.bounding_box(), second.bounding_box()
    assert first_box is not None and second_box is not None
    per_minute = (second_box["y"] - first_box["y"]) / 180

    _drag(page, first, second_box["y"] - first_box["y"])  # onto 13:00, the other booking's time
    expect(page.locator("#calendar-status")).to_contain_text("该时间已被占用")
    expect(first).to_contain_text("10:00")
    assert server.run(_start_of(early)) == day.replace(hour=10)

    _drag(page, first, 300 * per_minute)  # 15:00, free
    expect(page.locator("#calendar-status")).to_contain_text("已移至")
    expect(first).to_contain_text("15:00")
    assert server.run(_start_of(early)) == day.replace(hour=15)
    assert server.run(_start_of(late)) == day.replace(hour=13)

    # An empty time in 赵敏's lane, two hours after the moved booking: the dialog books it there.
    expect(page.locator("#calendar")).to_have_attribute("aria-busy", "false")
    moved_box = first.bounding_box()
    assert moved_box is not None
    page.mouse.click(moved_box["x"] + moved_box["width"] / 2, moved_box["y"] + 120 * per_minute + 6)
    dialog = page.get_by_role("dialog", name="新建预约")
    expect(dialog.get_by_label("开始时间（门店时间）")).to_have_value(f"{local.isoformat()}T17:00")
    dialog.get_by_label("客户姓名").fill("小昭")
    dialog.get_by_label("客户手机号").fill("+8613600000003")
    dialog.get_by_role("button", name="预约", exact=True).click()
    expect(page.locator(".ec-event").filter(has_text="小昭")).to_contain_text("17:00")
    expect(page.locator("#calendar-status")).to_contain_text("已预约")
    assert server.run(_starts_by_phone("+8613600000003")) == [day.replace(hour=17)]

    page.get_by_role("button", name="周").click()  # the week keeps the lanes and branch times
    expect(page.locator(".ec-event").filter(has_text="殷离")).to_contain_text("13:00")
    assert serious_accessibility_problems(page) == []
    page.get_by_role("button", name="新建预约").focus()
    page.keyboard.press("Enter")  # the dialog opens from the keyboard too
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("开始时间（门店时间）")).to_have_value("")
    assert policy_problems == []
