"""Health, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import re

import httpx

from appliance.app import create_app
from appliance.auth import actions, schemas
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Permission, Role
from appliance.settings import Settings
from appliance.testing.builders import make_branch, make_user
from appliance.testing.lifespan import running
from tests.conftest import make_settings

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
BRANCHES_COUNTER = re.compile(
    r'^litestar_requests_total\{(?=[^}]*method="GET")(?=[^}]*path="/api/v1/branches")(?=[^}]*status_code="200")[^}]*\}'
    r"\s+(\d+(?:\.\d+)?)$",
    re.MULTILINE,
)


async def bearer_for(username: str, *scopes: Permission) -> dict[str, str]:
    owner = await make_user(username, Role.owner)
    created = await actions.create_api_token(
        schemas.TokenCreate(name="prom", scopes=list(scopes)), actor=cli_actor(), owner_id=owner.id
    )
    return {"Authorization": f"Bearer {created.token}"}


def branches_requests_counted(metrics: str) -> float:
    """Sum of the GET /api/v1/branches 200 counters (the registry is per process, so compare before/after)."""
    return sum(float(m.group(1)) for m in BRANCHES_COUNTER.finditer(metrics))


async def test_healthz_answers_anonymous_callers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_readyz_reports_database_ok_and_redis_not_configured(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "not configured"}}


async def test_readyz_is_a_503_problem_when_redis_is_unreachable(settings: Settings, database: str) -> None:
    broken = make_settings(settings.database_url, settings.data.dir, APPLIANCE_REDIS_URL=UNREACHABLE_REDIS)
    async with running(create_app(broken)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "not_ready"
    assert problem["type"] == "/problems/not_ready"
    assert problem["request_id"] == response.headers["x-request-id"]
    assert problem["checks"]["database"] == "ok"
    assert problem["checks"]["redis"].startswith("failed")
    assert "127.0.0.1:1" not in response.text


async def test_metrics_refuses_anonymous_callers(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "litestar_requests_total" not in response.text


async def test_metrics_counts_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await make_branch("静安店")
    headers = await bearer_for("prometheus", Permission.metrics_read, Permission.branches_read)
    before = branches_requests_counted((await client.get("/metrics", headers=headers)).text)

    listed = await client.get("/api/v1/branches", headers=headers)
    response = await client.get("/metrics", headers=headers)

    assert listed.status_code == 200, listed.text
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert branches_requests_counted(response.text) == before + 1
    assert 'path="/api/v1/branches"' in response.text


async def test_metrics_refuses_a_token_without_metrics_read(client: httpx.AsyncClient) -> None:
    headers = await bearer_for("reader", Permission.branches_read)

    response = await client.get("/metrics", headers=headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "forbidden"
    assert "litestar_requests_total" not in response.text


async def test_openapi_document_is_public_and_lists_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/schema/openapi.json")

    assert response.status_code == 200, response.text
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert {"/api/v1/branches", "/api/v1/auth/login", "/healthz", "/readyz"} <= set(document["paths"])
    assert "/metrics" not in document["paths"]
