"""API tokens: shown once, stored hashed, narrowed by scopes, revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.auth.tables import ApiToken
from appliance.testing.builders import make_branch, make_user, sign_in


async def create_token(client: httpx.AsyncClient, csrf: str, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/auth/tokens", json=body, headers={"X-CSRF-Token": csrf})


async def test_token_is_shown_once_and_stored_only_as_a_hash(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    me = await sign_in(client, "boss")

    created = await create_token(client, me["csrf_token"], name="erp sync", scopes=["branches.read"])
    listed = await client.get("/api/v1/auth/tokens")

    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("apl_") and len(token) > 40
    assert token not in listed.text
    assert listed.json()[0]["prefix"] == token[:12]
    rows = await ApiToken.select(ApiToken.token_hash, ApiToken.prefix)
    assert all(token not in str(value) for row in rows for value in row.values() if value != token[:12])
    assert await AuditEntry.count().where(AuditEntry.action == "api_token.created") == 1


async def test_scopes_limit_what_a_token_can_do(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    me = await sign_in(client, "boss")
    token = (await create_token(client, me["csrf_token"], name="reader", scopes=["branches.read"])).json()["token"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}

    read = await client.get("/api/v1/branches", headers=bearer)
    write = await client.post("/api/v1/branches", json={"name": "x", "timezone": "Asia/Shanghai"}, headers=bearer)
    users = await client.get("/api/v1/users", headers=bearer)

    assert read.status_code == 200
    assert write.status_code == 403
    assert users.status_code == 403


async def test_a_token_cannot_hold_more_than_its_account(client: httpx.AsyncClient) -> None:
    await make_user("clerk", Role.front_desk)
    me = await sign_in(client, "clerk")

    response = await create_token(client, me["csrf_token"], name="sneaky", scopes=["users.manage"])

    assert response.status_code in (403, 422)
    assert await ApiToken.count() == 0


async def test_revoked_token_stops_working(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    me = await sign_in(client, "boss")
    created = (await create_token(client, me["csrf_token"], name="old", scopes=["branches.read"])).json()
    bearer = {"Authorization": f"Bearer {created['token']}"}

    revoked = await client.post(
        f"/api/v1/auth/tokens/{created['api_token']['id']}/revoke", headers={"X-CSRF-Token": me["csrf_token"]}
    )
    client.cookies.clear()
    response = await client.get("/api/v1/branches", headers=bearer)

    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_unknown_token_is_401_not_anonymous_access(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/branches", headers={"Authorization": "Bearer apl_not-a-real-token"})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_tokens_of_a_disabled_user_stop_working(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    clerk = await make_user("clerk", Role.manager)
    clerk_me = await sign_in(client, "clerk")
    token = (await create_token(client, clerk_me["csrf_token"], name="t", scopes=["branches.read"])).json()["token"]
    boss = await sign_in(client, "boss")
    await client.post(f"/api/v1/users/{clerk.id}/disable", headers={"X-CSRF-Token": boss["csrf_token"]})
    client.cookies.clear()

    response = await client.get("/api/v1/branches", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


async def test_expiry_must_be_a_future_date_with_an_offset(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    me = await sign_in(client, "boss")
    csrf = me["csrf_token"]

    not_a_date = await create_token(client, csrf, name="t", scopes=["branches.read"], expires_at="next tuesday")
    naive = await create_token(client, csrf, name="t", scopes=["branches.read"], expires_at="2030-01-01T00:00:00")
    past = await create_token(client, csrf, name="t", scopes=["branches.read"], expires_at="2020-01-01T00:00:00+08:00")
    good = await create_token(client, csrf, name="t", scopes=["branches.read"], expires_at="2030-01-01T00:00:00+08:00")

    for rejected in (not_a_date, naive, past):
        assert rejected.status_code == 422, rejected.text
        assert [e["field"] for e in rejected.json()["errors"]] == ["expires_at"]
    assert good.status_code == 201
    expires = datetime.fromisoformat(good.json()["api_token"]["expires_at"])
    assert expires == datetime(2029, 12, 31, 16, 0, tzinfo=UTC)
    assert await ApiToken.count() == 1


async def test_a_token_acts_with_its_accounts_branch_grants_and_stops_at_its_expiry(client: httpx.AsyncClient) -> None:
    mine, theirs = await make_branch("静安店"), await make_branch("徐汇店")
    await make_user("desk", Role.manager, branch_id=mine.id)
    me = await sign_in(client, "desk")
    token = (await create_token(client, me["csrf_token"], name="t", scopes=["branches.read"])).json()["token"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}

    own = await client.get(f"/api/v1/branches/{mine.id}", headers=bearer)
    other = await client.get(f"/api/v1/branches/{theirs.id}", headers=bearer)
    assert own.status_code == 200 and other.status_code == 404

    await ApiToken.update({ApiToken.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(ApiToken.name == "t")
    expired = await client.get(f"/api/v1/branches/{mine.id}", headers=bearer)
    assert expired.status_code == 401 and expired.json()["code"] == "invalid_token"
