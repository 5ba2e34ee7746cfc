"""A customer books on a phone (375 px) and then moves the booking from the manage link; every portal
page passes axe-core without serious or critical violations, and is kept as a screenshot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from playwright.sync_api import Page, expect

from appliance.bookings.tables import Booking
from tests.e2e.conftest import PHONE, Server, screenshot, serious_accessibility_problems


async def _bookings() -> list[dict[str, object]]:
    """Every booking on the shared server (other tests' too), by id."""
    rows: list[dict[str, object]] = await Booking.select(Booking.id, Booking.starts_at, Booking.status, Booking.channel)
    return rows


def check(page: Page, name: str) -> None:
    assert serious_accessibility_problems(page) == [], name
    screenshot(page, name)


def test_a_customer_books_on_a_phone_and_reschedules_from_the_manage_link(
    new_page: Callable[..., Page], server: Server
) -> None:
    page = new_page(viewport=PHONE)

    before = {b["id"] for b in server.run(_bookings())}
    page.goto("/portal/")
    check(page, "portal-1-branches")
    page.get_by_role("link", name="静安店").click()
    check(page, "portal-2-services")
    page.get_by_role("link", name="精油按摩").click()
    page.get_by_role("link", name="王芳").click()
    # Next month's slots are always outside the two-hour reschedule cut-off, whatever the hour of the run.
    page.get_by_role("link", name="下个月").click()
    page.locator("a.day.free").first.click()
    check(page, "portal-3-date-and-time")
    first_time = page.locator("a.time").first
    expect(first_time).to_be_visible()
    first_time.click()

    page.get_by_label("姓名").fill("韩梅梅")
    page.get_by_label("手机号码").fill("+8613900000001")
    page.get_by_role("button", name="确认预约").click()  # the required question left unanswered
    expect(page.locator(".field-error")).to_have_text(["此项必填"])
    check(page, "portal-4-details-with-an-error")
    page.get_by_label("重").check()
    page.get_by_label("过敏史").fill("无")
    page.get_by_role("button", name="确认预约").click()

    expect(page.get_by_role("heading", name="预约成功")).to_be_visible()
    check(page, "portal-5-confirmation")
    manage_url = page.url.split("?")[0]
    [booked] = [b for b in server.run(_bookings()) if b["id"] not in before]
    assert (booked["status"], booked["channel"]) == ("confirmed", "web")

    with page.expect_download() as download:
        page.get_by_role("link", name="添加到日历").click()
    assert download.value.suggested_filename == "booking.ics"

    page.goto(manage_url)  # later, from the link
    page.get_by_role("link", name="改约时间").click()
    page.locator("a.day.free").last.click()
    new_time = page.locator("ul.times form").last
    new_start = datetime.fromisoformat(new_time.locator("input[name=start]").get_attribute("value") or "")
    check(page, "portal-6-reschedule")
    new_time.get_by_role("button").click()

    expect(page.get_by_role("status")).to_have_text("您的预约已改到新时间。")
    [moved] = [b for b in server.run(_bookings()) if b["id"] == booked["id"]]
    assert moved["starts_at"] == new_start and moved["starts_at"] != booked["starts_at"]
    assert moved["status"] == "confirmed"


def test_the_portal_embedded_in_english_hides_the_header(new_page: Callable[..., Page], server: Server) -> None:
    page = new_page(viewport=PHONE, locale="en-US")

    page.goto(f"/portal/branches/{server.seed.branch_id}?embed=1")
    page.get_by_role("link", name="足疗").click()

    expect(page.get_by_role("heading", name="Choose a time")).to_be_visible()
    assert page.locator("header").count() == 0
    assert "embed=1" in page.url
    assert serious_accessibility_problems(page) == []
