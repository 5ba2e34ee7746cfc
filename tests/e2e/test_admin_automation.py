"""A manager builds a rule with the keyboard-usable builder: a wrong condition is shown at its input, the
action's parameters appear when its type is chosen, and the saved rule is listed. The pages pass axe-core
and are kept as screenshots."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from appliance.auth.roles import Role
from tests.e2e.conftest import SignedIn, screenshot, serious_accessibility_problems


def test_a_manager_builds_a_rule(signed_in: Callable[..., SignedIn]) -> None:
    page = signed_in(Role.manager).page

    page.goto("/admin/automation/rules/new?lang=en")
    page.get_by_label("Name").fill("Big groups wait for approval")
    page.get_by_label("Field 1").select_option("booking.seats")
    page.get_by_label("Comparison 1").select_option("contains")
    page.get_by_label("Value 1").fill("3")
    page.get_by_label("Do", exact=True).first.select_option("add_tag")
    expect(page.locator("#action-0-tag")).to_be_visible()
    page.locator("#action-0-tag").fill("group")
    page.get_by_role("button", name="Save rule").click()

    expect(page.locator("#cond-0-op-error")).to_contain_text("does not apply")
    page.get_by_label("Comparison 1").select_option("gte")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-rule-builder")
    page.get_by_role("button", name="Save rule").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Big groups wait for approval")
    page.goto("/admin/automation?lang=en")
    expect(page.locator("tr.rule", has_text="Big groups wait for approval")).to_contain_text("booking.created")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-rules")


def test_a_template_preview_follows_the_typing_and_the_deliveries_page_reads_well(signed_in: Callable[..., SignedIn]) -> None:
    page = signed_in(Role.manager).page  # of every branch: templates and deliveries serve them all

    page.goto("/admin/automation/templates/booking_reminder/email/zh-CN?lang=en")
    page.get_by_label("Subject").fill("")
    page.get_by_label("Subject").press_sequentially("See you, {{ customer.name }}")

    expect(page.locator(".preview-subject")).to_have_text("See you, 韩梅梅")
    assert serious_accessibility_problems(page) == []
    page.goto("/admin/automation/deliveries?status=dead&lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Deliveries")
    assert serious_accessibility_problems(page) == []
