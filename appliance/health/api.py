"""GET /healthz (the process answers) and GET /readyz (its database and broker answer too)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from litestar import Controller, Response, get
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from redis.asyncio import Redis

from appliance.auth.api import AnyRequest
from appliance.auth.guards import PUBLIC
from appliance.core import db
from appliance.core.http import problem
from appliance.db.migrate import pending_migrations

CHECK_TIMEOUT_SECONDS = 3


async def _check_database() -> str:
    await db.ping()
    if pending := await pending_migrations():
        return f"{len(pending)} migration(s) pending"
    return "ok"


async def _check_redis(client: Redis | None) -> str:
    if client is None:
        return "not configured"
    await client.ping()
    return "ok"


class HealthController(Controller):
    include_in_schema = True
    tags = ["health"]
    opt = PUBLIC

    @get("/healthz")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz")
    async def readyz(self, request: AnyRequest) -> Response[dict[str, object]]:
        checks: dict[str, str] = {}
        probes: dict[str, Callable[[], Awaitable[str]]] = {
            "database": _check_database,
            "redis": lambda: _check_redis(request.app.state.redis),
        }
        for name, probe in probes.items():
            try:
                checks[name] = await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
            except Exception as exc:  # any failure means not ready; the reason is for operators
                checks[name] = f"failed: {type(exc).__name__}"
        if all(v in ("ok", "not configured") for v in checks.values()):
            return Response({"status": "ready", "checks": checks})
        return problem(
            HTTP_503_SERVICE_UNAVAILABLE, "not_ready", "Not ready", "a dependency is not ready", request, checks=checks
        )
