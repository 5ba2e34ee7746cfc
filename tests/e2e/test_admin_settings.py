"""An owner reaches the settings page from the navigation by keyboard and reads each setting with its
environment variable and the key ring's status; the page passes axe-core and is kept as a screenshot."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, screenshot, serious_accessibility_problems
from tests.e2e.ops_support import own_owner


def test_an_owner_reads_the_settings_in_effect(new_page: Callable[..., Page], server: Server) -> None:
    page = own_owner(new_page, server, "ops-settings-owner")
    page.goto("/admin/export?lang=en")

    link = page.get_by_role("link", name="Settings", exact=True)
    link.focus()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    smtp = page.get_by_role("table", name="smtp")
    expect(smtp.get_by_role("row", name="APPLIANCE_SMTP_PASSWORD")).to_be_visible()
    expect(page.get_by_role("heading", name="Key ring")).to_be_visible()
    expect(page.locator("pre.keyring")).to_contain_text("signing key")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-settings")
