"""CSRF: cookie-authenticated unsafe requests need the session's token and our own origin."""

from __future__ import annotations

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.catalog.tables import Branch
from appliance.testing.builders import make_user, sign_in

NEW_BRANCH = {"name": "静安店", "timezone": "Asia/Shanghai"}


async def test_forged_cookie_request_without_token_is_refused_and_writes_nothing(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    await sign_in(client, "boss")
    audit_before = await AuditEntry.count()

    response = await client.post("/api/v1/branches", json=NEW_BRANCH)

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert await Branch.count() == 0
    assert await AuditEntry.count() == audit_before


async def test_wrong_token_is_refused(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    await sign_in(client, "boss")

    response = await client.post("/api/v1/branches", json=NEW_BRANCH, headers={"X-CSRF-Token": "guessed"})

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


async def test_another_sessions_token_is_refused(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    await make_user("mallory", Role.owner)
    mallory = await sign_in(client, "mallory")
    await sign_in(client, "boss")

    response = await client.post("/api/v1/branches", json=NEW_BRANCH, headers={"X-CSRF-Token": mallory["csrf_token"]})

    assert response.status_code == 403


async def test_right_token_from_our_origin_is_accepted(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    me = await sign_in(client, "boss")

    response = await client.post(
        "/api/v1/branches", json=NEW_BRANCH,
        headers={"X-CSRF-Token": me["csrf_token"], "Origin": "https://testserver"},
    )

    assert response.status_code == 201, response.text
    assert await Branch.count() == 1


async def test_cross_origin_request_is_refused_even_with_the_token(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    me = await sign_in(client, "boss")

    response = await client.post(
        "/api/v1/branches", json=NEW_BRANCH,
        headers={"X-CSRF-Token": me["csrf_token"], "Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert await Branch.count() == 0


async def test_cross_origin_login_is_refused(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)

    response = await client.post(
        "/api/v1/auth/login",
        json={"username": "boss", "password": "correct horse battery staple"},
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def test_bearer_token_requests_need_no_csrf_token(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    me = await sign_in(client, "boss")
    created = await client.post(
        "/api/v1/auth/tokens", json={"name": "erp", "scopes": ["branches.write"]},
        headers={"X-CSRF-Token": me["csrf_token"]},
    )
    token = created.json()["token"]
    client.cookies.clear()

    response = await client.post("/api/v1/branches", json=NEW_BRANCH, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 201, response.text
