"""An owner account of a test's own, signed in on a fresh page: owners answer a TOTP code per sign-in, and
a code step may be used once, so tests that share the harness's owner would use up each other's steps."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from appliance.auth.roles import Role
from appliance.testing.builders import DEFAULT_PASSWORD, make_user, second_factor
from tests.e2e.conftest import Server


def own_owner(new_page: Callable[..., Page], server: Server, username: str) -> Page:
    server.run(make_user(username, Role.owner))
    page = new_page()
    login = {"username": username, "password": DEFAULT_PASSWORD, **server.run(second_factor(username))}
    response = page.context.request.post("/api/v1/auth/login", data=login)
    assert response.ok, response.text()
    return page
