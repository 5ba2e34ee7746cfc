"""The harness itself: a signed-in page per role (what the admin pages' tests start from)."""

from __future__ import annotations

from collections.abc import Callable

from appliance.auth.roles import Role
from tests.e2e.conftest import SignedIn


def test_a_signed_in_page_carries_the_roles_session(signed_in: Callable[..., SignedIn]) -> None:
    desk = signed_in(Role.front_desk)
    owner = signed_in(Role.owner)  # answers its second factor

    me = desk.page.context.request.get("/api/v1/auth/me").json()
    owners_me = owner.page.context.request.get("/api/v1/auth/me").json()

    assert me["user"]["username"] == desk.username and me["csrf_token"] == desk.csrf_token
    assert owners_me["user"]["username"] == owner.username and owners_me["auth_method"] == "password+totp"
