"""Every failure reaches the caller as one RFC 9457 problem+json shape, and a refused write writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from litestar import Litestar, get

from appliance.app import create_app
from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.auth.tables import User
from appliance.catalog.tables import Branch
from appliance.settings import Settings
from appliance.testing.builders import make_branch, make_user, sign_in
from appliance.testing.lifespan import running
from tests.conftest import make_settings

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "instance", "request_id"}
BRANCHES = "/api/v1/branches"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is a complete problem document whose request id is the one in the header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert PROBLEM_KEYS <= body.keys()
    assert body["type"] == f"/problems/{code}"
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert len(body["request_id"]) >= 8
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def owner_headers(client: httpx.AsyncClient) -> dict[str, str]:
    await make_user("boss", Role.owner)
    me = await sign_in(client, "boss")
    return {"X-CSRF-Token": me["csrf_token"]}


async def write_counts() -> tuple[int, int]:
    return await Branch.count(), await AuditEntry.count()


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app of its own, for settings the shared `app` fixture does not have."""
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            yield http


async def test_malformed_json_body_is_400_and_writes_nothing(client: httpx.AsyncClient) -> None:
    headers = await owner_headers(client)
    before = await write_counts()

    response = await client.post(
        BRANCHES, content='{"name": "静安店", "timezone": '.encode(), headers={**headers, "content-type": "application/json"}
    )

    assert_problem(response, 400, "malformed_request")
    assert await write_counts() == before


async def test_anonymous_request_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(BRANCHES)

    body = assert_problem(response, 401, "not_authenticated")
    assert "errors" not in body


async def test_front_desk_adding_a_branch_is_403_and_writes_nothing(client: httpx.AsyncClient) -> None:
    await make_user("desk", Role.front_desk)
    me = await sign_in(client, "desk")
    before = await write_counts()

    response = await client.post(
        BRANCHES, json={"name": "徐汇店", "timezone": "Asia/Shanghai"}, headers={"X-CSRF-Token": me["csrf_token"]}
    )

    assert_problem(response, 403, "forbidden")
    assert await write_counts() == before


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")

    assert_problem(response, 404, "not_found")


async def test_unknown_branch_is_404(client: httpx.AsyncClient) -> None:
    headers = await owner_headers(client)
    await make_branch("静安店")

    response = await client.get(f"{BRANCHES}/0b7e3f6c-2a53-4c39-9d51-3f0a6f1c2e11", headers=headers)

    assert_problem(response, 404, "not_found")


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")

    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in {m.strip() for m in response.headers["allow"].split(",")}


async def test_caller_request_id_is_kept_even_for_routing_failures(client: httpx.AsyncClient) -> None:
    sent = "lb-trace-0001-abcdef"

    unknown = await client.get("/api/v1/no-such-thing", headers={"X-Request-ID": sent})
    anonymous = await client.get(BRANCHES, headers={"X-Request-ID": sent})

    assert assert_problem(unknown, 404, "not_found")["request_id"] == sent
    assert assert_problem(anonymous, 401, "not_authenticated")["request_id"] == sent


async def test_taken_username_is_409(client: httpx.AsyncClient) -> None:
    headers = await owner_headers(client)
    new_user = {"username": "clerk", "password": "a long enough passphrase 42", "grants": [{"role": "front_desk"}]}
    first = await client.post("/api/v1/users", json=new_user, headers=headers)
    before = await AuditEntry.count()

    second = await client.post("/api/v1/users", json=new_user, headers=headers)

    assert first.status_code == 201, first.text
    assert_problem(second, 409, "username_taken")
    assert await AuditEntry.count() == before
    assert await User.count().where(User.username == "clerk") == 1


async def test_body_over_the_limit_is_413_and_writes_nothing(settings: Settings, database: str) -> None:
    small = make_settings(settings.database_url, settings.data.dir, APPLIANCE_HTTP_MAX_BODY_KB="1")
    async with client_for(small) as client:
        headers = await owner_headers(client)
        before = await write_counts()

        response = await client.post(
            BRANCHES, json={"name": "静安店", "timezone": "Asia/Shanghai", "address": "南" * 2000}, headers=headers
        )

        assert_problem(response, 413, "body_too_large")
        assert await write_counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": 5, "timezone": "Asia/Shanghai"}, "name", id="wrong-type"),
        pytest.param({"name": "静安店", "timezone": "Asia/Shanghai", "colour": "red"}, "colour", id="unknown-field"),
        pytest.param({"timezone": "Asia/Shanghai"}, "name", id="missing-field"),
        pytest.param({"name": "静安店", "timezone": "Asia/Beijing"}, "timezone", id="unknown-time-zone"),
    ],
)
async def test_invalid_branch_is_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    headers = await owner_headers(client)
    before = await write_counts()

    response = await client.post(BRANCHES, json=body, headers=headers)

    problem = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert all(set(e) == {"field", "message"} and e["message"] for e in problem["errors"])
    assert field in problem["detail"]
    assert await write_counts() == before


async def test_malformed_id_in_the_path_is_422_naming_the_parameter(client: httpx.AsyncClient) -> None:
    headers = await owner_headers(client)

    response = await client.get(f"{BRANCHES}/not-a-uuid", headers=headers)

    problem = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["branch_id"]
    assert "UUID" in problem["errors"][0]["message"]


async def test_too_many_login_attempts_is_429(settings: Settings, database: str) -> None:
    strict = make_settings(settings.database_url, settings.data.dir, APPLIANCE_AUTH_LOGIN_ATTEMPTS_PER_MINUTE="3")
    await make_user("alice", Role.owner)
    async with client_for(strict) as client:
        wrong = {"username": "alice", "password": "not the password at all"}
        allowed = [await client.post("/api/v1/auth/login", json=wrong) for _ in range(3)]

        refused = await client.post("/api/v1/auth/login", json=wrong)

    assert [r.status_code for r in allowed] == [401, 401, 401]
    problem = assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert problem["retry_after"] == int(refused.headers["retry-after"])
    assert refused.headers["ratelimit-limit"] == "3"
    failures = await AuditEntry.count().where(AuditEntry.action == "auth.login_failed")
    assert failures == 3


@get("/boom", opt={"public": True})
async def boom() -> None:
    raise RuntimeError("secret detail 13800138000")


async def test_unexpected_error_is_500_with_only_the_request_id(
    app: Litestar, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    app.register(boom)

    response = await client.get("/boom")

    problem = assert_problem(response, 500, "internal_error")
    assert set(problem) == PROBLEM_KEYS
    assert "secret detail" not in response.text
    assert "13800138000" not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text
    logged = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "unhandled_error"]
    assert len(logged) == 1
    assert logged[0]["request_id"] == problem["request_id"]
    assert logged[0]["level"] == "error"
    assert "RuntimeError" in logged[0]["exception"]
    assert "13800138000" not in logged[0]["exception"]


async def test_sqlite_lock_timeout_is_a_retryable_503(app: Litestar, client: httpx.AsyncClient) -> None:
    import sqlite3

    @get("/busy", opt={"public": True}, sync_to_thread=False)
    def busy() -> None:
        raise sqlite3.OperationalError("database is locked")

    app.register(busy)

    response = await client.get("/busy")

    assert response.status_code == 503
    assert response.json()["code"] == "database_busy"
    assert response.headers["retry-after"] == "1"
