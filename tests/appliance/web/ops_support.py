"""Signing in to the admin pages and posting as htmx does, for the automation, import and administration tests."""

from __future__ import annotations

import httpx

from appliance.auth.roles import Role
from appliance.testing.builders import sign_in_as


async def staff(client: httpx.AsyncClient, username: str, role: Role) -> dict[str, str]:
    """Sign in as a new user with `role`; the headers an htmx post from an admin page carries."""
    me = await sign_in_as(client, username, role)
    return {"HX-Request": "true", "X-CSRF-Token": me["csrf_token"], "Origin": "https://testserver"}
