"""A manager changes a resource's weekly schedule with the keyboard only; the catalog pages pass
axe-core without serious or critical violations and are kept as screenshots."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from playwright.sync_api import expect

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.catalog import queries
from appliance.catalog.schemas import Schedule
from appliance.testing.builders import make_resource
from tests.e2e.conftest import Server, SignedIn, screenshot, serious_accessibility_problems


async def _nail_artist(branch_id: UUID) -> UUID:
    """A resource of this test's own, so the portal's staff keep their hours."""
    return (await make_resource(branch_id, name="赵敏", skills=("nails",))).id


async def _schedule(resource_id: UUID) -> Schedule:
    return await queries.get_schedule(resource_id, actor=cli_actor())


def test_a_manager_edits_a_weekly_schedule_with_the_keyboard_only(
    signed_in: Callable[..., SignedIn], server: Server
) -> None:
    resource_id = server.run(_nail_artist(server.seed.branch_id))
    page = signed_in(Role.manager).page

    page.goto(f"/admin/catalog/?branch={server.seed.branch_id}")  # other tests add branches to the shared server
    expect(page.get_by_role("link", name="精油按摩")).to_be_visible()
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-catalog-services")
    page.goto(f"/admin/catalog/services/{server.seed.massage_id}")
    assert serious_accessibility_problems(page) == []

    page.goto(f"/admin/catalog/resources/{resource_id}")
    page.get_by_label("周一 第 1 段 开始").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("10:00")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("12:00")
    page.keyboard.press("Tab")  # the blank row adds a second interval
    page.keyboard.type("13:00")
    page.keyboard.press("Tab")
    page.keyboard.type("17:30")
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_have_text("排班已保存。")
    expect(page.get_by_label("周一 第 3 段 开始")).to_be_visible()  # a new blank row after the two
    assert server.run(_schedule(resource_id)).weekly["mon"] == [("10:00", "12:00"), ("13:00", "17:30")]
    assert server.run(_schedule(resource_id)).weekly["tue"] == [("09:00", "18:00")]
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-resource-schedule")
