"""A manager adds a top tier to the loyalty programme with the keyboard-usable ladder: a tier without a
threshold is named at its input, then the programme is saved. The page passes axe-core and is kept as a
screenshot."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from appliance.auth.roles import Role
from tests.e2e.conftest import SignedIn, screenshot, serious_accessibility_problems


def test_a_manager_adds_a_top_tier(signed_in: Callable[..., SignedIn]) -> None:
    page = signed_in(Role.manager).page

    page.goto("/admin/customers?lang=en")
    page.get_by_role("link", name="Loyalty programme").click()
    top = page.get_by_role("group", name="Tier 5")  # the blank row under the four built-in tiers
    top.get_by_label("Key (a-z, 0-9, _)").fill("diamond")
    top.get_by_label("Name").fill("钻石会员")
    page.get_by_role("button", name="Save programme").click()

    threshold = page.get_by_role("group", name="Tier 5").get_by_label("Lifetime spend from (yuan)")
    expect(threshold).to_have_attribute("aria-invalid", "true")
    threshold.fill("50000")
    assert serious_accessibility_problems(page) == []
    page.get_by_role("button", name="Save programme").click()

    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(page.get_by_role("group", name="Tier 5").get_by_label("Name")).to_have_value("钻石会员")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-loyalty")
