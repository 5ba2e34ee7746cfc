"""Staff single sign-on in Chromium against the real npm oidc-provider (tests/idp): the SSO button on the
login page, the provider's own sign-in page, and back into the admin UI with the role the claims map to;
an account the claims give no role is told so on the sign-in page (kept as a screenshot). The login page
passes axe-core."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Server, free_port, pages_on, screenshot, serious_accessibility_problems, serving
from tests.idp import PASSWORD, Idp, run_idp


@dataclass
class Sso:
    server: Server
    idp: Idp


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sso]:
    """An appliance served for SSO with the provider, whose one client is that appliance."""
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    with contextlib.contextmanager(run_idp)(app_url) as idp:
        settings = idp.env(APPLIANCE_PUBLIC_URL=app_url, APPLIANCE_OIDC_ROLE_MAP="booking-managers=manager")
        with serving(tmp_path_factory.mktemp("e2e-sso"), port, **settings) as server:
            yield Sso(server, idp)


@pytest.fixture
def sso_page(browser: Browser, sso: Sso) -> Iterator[Callable[..., Page]]:
    with pages_on(browser, sso.server.base_url) as make:
        yield make


def sign_in_with_sso(page: Page, login: str) -> None:
    """From the admin login page through the provider's sign-in form (consent never asked: first party)."""
    page.goto("/admin/login?lang=en")
    page.get_by_role("link", name="Sign in with your company account (SSO)").click()
    expect(page.locator("input[name=login]")).to_be_visible()
    assert page.url.startswith("http://127.0.0.1:") and "/interaction/" in page.url
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_manager_signs_in_through_the_identity_provider_and_lands_in_the_admin_ui(
    sso_page: Callable[..., Page], sso: Sso,
) -> None:
    sso.idp.set_account("mei-1", preferred_username="mei", name="Mei Chen", groups=["booking-managers", "other"])
    page = sso_page()
    page.goto("/admin/login?lang=en")
    assert serious_accessibility_problems(page) == []

    sign_in_with_sso(page, "mei-1")

    expect(page).to_have_url(f"{sso.server.base_url}/admin/")
    expect(page.locator(".admin-bar .who")).to_have_text("mei")
    me = page.request.get("/api/v1/auth/me").json()
    assert me["auth_method"] == "sso"
    assert me["user"]["grants"] == [{"role": "manager", "branch_id": None}]
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link", name="Automation")).to_be_visible()


def test_an_account_the_claims_give_no_role_is_told_so_on_the_sign_in_page(
    sso_page: Callable[..., Page], sso: Sso,
) -> None:
    sso.idp.set_account("nora-1", preferred_username="nora", groups=["marketing"])
    page = sso_page()

    sign_in_with_sso(page, "nora-1")

    expect(page).to_have_url(f"{sso.server.base_url}/admin/login?sso_failed=sso_no_role")
    expect(page.get_by_role("alert")).to_contain_text("it gives you no role here")
    expect(page.get_by_role("link", name="Sign in with your company account (SSO)")).to_be_visible()
    assert page.request.get("/api/v1/auth/me").status == 401
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-login-sso-refused")
