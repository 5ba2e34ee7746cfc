"""A manager builds a rule with the keyboard-usable builder: a condition offers only the comparisons its
field takes, approval levels are rows whose problem is shown at its input, and the saved rule is listed. The pages pass axe-core
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
    page.get_by_label("Field 1").select_option("customer.is_new")
    expect(page.get_by_label("Comparison 1").locator("option")).to_have_text(["eq", "ne", "is_set"])
    page.get_by_label("Field 1").select_option("booking.seats")  # a number: ordered comparisons, no contains
    expect(page.get_by_label("Comparison 1").locator("option[value=gte]")).to_have_count(1)
    expect(page.get_by_label("Comparison 1").locator("option[value=contains]")).to_have_count(0)
    page.get_by_label("Comparison 1").select_option("gte")
    page.get_by_label("Value 1").fill("3")
    page.get_by_label("Do", exact=True).first.select_option("require_approval")
    level_1 = page.get_by_role("group", name="Level 1")
    expect(level_1).to_be_visible()
    level_1.get_by_label("Time to decide (minutes)").fill("120")  # no approver yet
    page.get_by_role("button", name="Save rule").click()

    expect(page.locator("#action-0-level-0-approver_role-error")).to_have_text("Choose a role or named staff for this level.")
    expect(page.get_by_label("Approver role").first).to_have_attribute("aria-invalid", "true")
    page.get_by_role("group", name="Level 1").get_by_label("Approver role").select_option("manager")
    page.get_by_role("group", name="Level 2").get_by_label("Approver role").select_option("owner")
    page.get_by_role("group", name="Level 2").get_by_label("Time to decide (minutes)").fill("600")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-rule-builder")
    page.get_by_role("button", name="Save rule").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Big groups wait for approval")
    expect(page.get_by_role("group", name="Level 2").get_by_label("Time to decide (minutes)")).to_have_value("600")
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
