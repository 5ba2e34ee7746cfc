"""A front-desk user opens the inbox from the navigation and marks a message read with the keyboard. The
page passes axe-core and is kept as a screenshot."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

from playwright.sync_api import expect

from appliance.auth.roles import Role
from appliance.auth.tables import User
from appliance.notifications.inbox import deliver_to_inbox
from tests.e2e.conftest import Server, SignedIn, screenshot, serious_accessibility_problems


async def _deliver(username: str) -> None:
    user = await User.select(User.id).where(User.username == username).first()
    assert user is not None
    await deliver_to_inbox(uuid4(), user["id"], None, "预约待审批", "张三的预约（精油按摩）等待您审批。")
    await deliver_to_inbox(uuid4(), user["id"], None, "明日预约提醒", "明天有 3 个预约。")


def test_a_front_desk_user_reads_the_inbox(signed_in: Callable[..., SignedIn], server: Server) -> None:
    session = signed_in(Role.front_desk)
    page = session.page
    server.run(_deliver(session.username))

    page.goto("/admin/?lang=en")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Inbox").click()
    first = page.locator(".inbox-item", has_text="预约待审批")
    expect(first).to_contain_text("unread")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-inbox")

    first.get_by_role("button", name="Mark as read").focus()
    page.keyboard.press("Enter")

    expect(page.locator(".inbox-item", has_text="预约待审批")).not_to_contain_text("unread")
    page.get_by_role("link", name="Show unread only").click()
    expect(page.locator(".inbox-item")).to_have_count(1)
    expect(page.locator(".inbox-item")).to_contain_text("明日预约提醒")
