"""A manager saves a customer segment from the customers list with the keyboard-usable filter form: a
wrong range is named at its input, then the segment is listed with how many customers match. The form
passes axe-core and is kept as a screenshot."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from appliance.auth.roles import Role
from tests.e2e.conftest import SignedIn, screenshot, serious_accessibility_problems


def test_a_manager_saves_a_segment(signed_in: Callable[..., SignedIn]) -> None:
    page = signed_in(Role.manager).page

    page.goto("/admin/customers?lang=en")
    page.get_by_role("link", name="Saved segments").click()
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name", exact=True).fill("Loyal regulars")
    page.get_by_label("Key (lower-case letters, digits, - and _)").fill("loyal-regulars")
    page.get_by_label("Has every tag (comma-separated)").fill("regular")
    page.get_by_label("Visits at least").fill("10")
    page.get_by_label("Visits at most").fill("5")
    page.get_by_label("金卡会员").check()  # the tier ladder names its tiers
    page.get_by_label("marketing").select_option("agreed")
    page.get_by_role("button", name="Save segment").click()

    expect(page.get_by_label("Visits at most")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#visit_count_max-error")).to_have_text("This must not be below the lower bound.")
    page.get_by_label("Visits at most").fill("")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-segment")
    page.get_by_role("button", name="Save segment").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Loyal regulars")
    expect(page.get_by_role("link", name="0 customers match now")).to_be_visible()
    page.goto("/admin/customers/segments?lang=en")
    expect(page.locator("tr.segment", has_text="Loyal regulars")).to_contain_text("loyal-regulars")
    assert serious_accessibility_problems(page) == []
