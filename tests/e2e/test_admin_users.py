"""An owner creates a front-desk account from the users page with the keyboard-usable form, then opens an
account with a second factor; the list, the form and the account page pass axe-core."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from appliance.auth.roles import Role
from appliance.testing.builders import make_user
from tests.e2e.conftest import Server, screenshot, serious_accessibility_problems
from tests.e2e.ops_support import own_owner


def test_an_owner_creates_a_front_desk_account_and_opens_an_account_with_a_second_factor(
    new_page: Callable[..., Page], server: Server,
) -> None:
    officer = "ops-officer"
    server.run(make_user(officer, Role.compliance_officer))  # an account with a second factor
    page = own_owner(new_page, server, "ops-users-owner")

    page.goto("/admin/users/new?lang=en")
    page.get_by_label("Username").fill("desk.e2e")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase 42")
    page.get_by_label("Role 1").select_option("front_desk")
    page.get_by_label("Branch 1").select_option(str(server.seed.branch_id))
    assert serious_accessibility_problems(page) == []
    page.get_by_role("button", name="Create user").click()

    expect(page).to_have_url("/admin/users")
    expect(page.locator("tr.user", has_text="desk.e2e")).to_contain_text("Front desk @ 静安店")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-users")

    page.get_by_role("link", name=officer).click()
    expect(page.get_by_role("heading", name="Reset the second factor")).to_be_visible()
    expect(page.get_by_role("heading", name="Change roles")).to_be_visible()
    assert serious_accessibility_problems(page) == []
