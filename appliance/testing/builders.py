"""Builders that create data through actions (so audit, outbox and invariants hold) and sign in."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from appliance.auth import actions as auth_actions
from appliance.auth import schemas as auth_schemas
from appliance.auth.actor import Actor, cli_actor
from appliance.auth.roles import Role
from appliance.catalog import actions as catalog_actions
from appliance.catalog import schemas as catalog_schemas

DEFAULT_PASSWORD = "correct horse battery staple"


async def make_branch(name: str = "静安店", timezone: str = "Asia/Shanghai", *, actor: Actor | None = None) -> catalog_schemas.Branch:
    data = catalog_schemas.BranchCreate(name=name, timezone=timezone)
    return await catalog_actions.create_branch(data, actor=actor or cli_actor())


async def make_user(
    username: str,
    role: Role = Role.owner,
    *,
    branch_id: UUID | None = None,
    password: str | None = DEFAULT_PASSWORD,
    actor: Actor | None = None,
) -> auth_schemas.User:
    data = auth_schemas.UserCreate(
        username=username, password=password, grants=[auth_schemas.GrantBody(role, branch_id)]
    )
    return await auth_actions.create_user(data, actor=actor or cli_actor())


async def sign_in(client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    """Log in through the API; the client keeps the session cookie. Returns the /me body (with csrf_token)."""
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
