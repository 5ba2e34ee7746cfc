"""Sessions: a new id at every login (no fixation), server-side end at logout, safe cookie attributes."""

from __future__ import annotations

import httpx
import redis.asyncio as redis_asyncio

from appliance.auth.credentials import digest
from appliance.auth.roles import Role
from appliance.auth.sessions import SECURE_COOKIE
from appliance.testing.builders import make_user, sign_in
from appliance.testing.lifespan import running
from tests.conftest import REDIS_TEST_URL, make_settings


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get(SECURE_COOKIE)


async def me_status_with(client: httpx.AsyncClient, session_id: str | None) -> int:
    """GET /me presenting exactly this session cookie and nothing else."""
    client.cookies.clear()
    if session_id:
        client.cookies.set(SECURE_COOKIE, session_id, domain="testserver.local")
    return (await client.get("/api/v1/auth/me")).status_code


async def test_login_issues_a_new_session_id_even_when_one_is_presented(client: httpx.AsyncClient) -> None:
    await make_user("alice", Role.owner)
    await make_user("bob", Role.front_desk)
    await sign_in(client, "bob")
    first = session_cookie(client)
    planted = "attacker-chosen-session-id-0123456789abcdef"

    client.cookies.clear()
    client.cookies.set(SECURE_COOKIE, planted, domain="testserver.local")
    await sign_in(client, "alice")
    second = session_cookie(client)

    assert first and second
    assert len({first, second, planted}) == 3
    me = await client.get("/api/v1/auth/me")
    assert me.json()["user"]["username"] == "alice"
    assert await me_status_with(client, planted) == 401


async def test_relogin_as_same_user_rotates_and_ends_the_old_session(client: httpx.AsyncClient) -> None:
    await make_user("alice", Role.owner)
    await sign_in(client, "alice")
    before = session_cookie(client)

    await sign_in(client, "alice")

    after = session_cookie(client)
    assert before != after
    assert await me_status_with(client, before) == 401
    assert await me_status_with(client, after) == 200


async def test_session_cookie_attributes(client: httpx.AsyncClient) -> None:
    await make_user("alice", Role.front_desk)

    response = await client.post("/api/v1/auth/login", json={"username": "alice", "password": "correct horse battery staple"})

    header = response.headers["set-cookie"]
    assert header.startswith(f"{SECURE_COOKIE}=")
    attributes = {part.strip().lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "path=/", "samesite=lax"} <= attributes
    assert not any(a.startswith("domain=") for a in attributes)


async def test_logout_ends_the_session_on_the_server(client: httpx.AsyncClient) -> None:
    await make_user("alice", Role.owner)
    me = await sign_in(client, "alice")
    cookie = session_cookie(client)

    response = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": me["csrf_token"]})

    assert response.status_code == 200
    assert await me_status_with(client, cookie) == 401


async def test_disabling_a_user_ends_their_sessions(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    clerk = await make_user("clerk", Role.front_desk)
    async with httpx.AsyncClient(transport=client._transport, base_url="https://testserver") as clerk_client:
        await sign_in(clerk_client, "clerk")
        assert (await clerk_client.get("/api/v1/auth/me")).status_code == 200
        boss = await sign_in(client, "boss")

        disabled = await client.post(f"/api/v1/users/{clerk.id}/disable", headers={"X-CSRF-Token": boss["csrf_token"]})

        assert disabled.status_code == 200, disabled.text
        assert (await clerk_client.get("/api/v1/auth/me")).status_code == 401
    again = await client.post("/api/v1/auth/login", json={"username": "clerk", "password": "correct horse battery staple"})
    assert again.status_code == 401


async def test_wrong_password_and_unknown_user_get_the_same_answer(client: httpx.AsyncClient) -> None:
    await make_user("alice", Role.owner)

    wrong = await client.post("/api/v1/auth/login", json={"username": "alice", "password": "not the password at all"})
    unknown = await client.post("/api/v1/auth/login", json={"username": "nobody", "password": "not the password at all"})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["code"] == unknown.json()["code"] == "login_failed"
    assert session_cookie(client) is None


async def test_production_mode_keeps_sessions_in_redis(database_urls: dict[str, str], tmp_path: object) -> None:
    from appliance.app import create_app
    from appliance.core import db

    settings = make_settings(database_urls["postgresql"], APPLIANCE_REDIS_URL=REDIS_TEST_URL)
    app = create_app(settings)
    redis = redis_asyncio.Redis.from_url(REDIS_TEST_URL)
    try:
        async with running(app):
            from tests.conftest import _empty_all_tables

            await _empty_all_tables()
            await make_user("alice", Role.owner)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
                await sign_in(client, "alice")
                cookie = session_cookie(client)
                assert cookie
                keys = [k.decode() for k in await redis.keys("appliance:sessions*")]
                assert any(k.endswith(digest(cookie)) for k in keys)
                assert not any(cookie in k for k in keys)
                assert (await client.get("/api/v1/auth/me")).status_code == 200
        assert db.current_dialect() == "postgresql"
    finally:
        for key in await redis.keys("appliance:*"):
            await redis.delete(key)
        await redis.aclose()
