"""Every route is public by declaration or tied to a permission; anything else fails closed."""

from __future__ import annotations

import httpx
from litestar import Litestar, get

from appliance.auth.guards import unguarded_routes
from appliance.auth.roles import Role
from appliance.testing.builders import make_user, sign_in

# Routes that answer without a signed-in user. Adding one here is a security decision.
PUBLIC_ROUTES = {
    "GET /healthz",
    "GET /readyz",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/logout",
    "GET /api/schema",
    "GET /api/schema/openapi.json",
    "GET /api/schema/openapi.yaml",
    "GET /api/schema/openapi.yml",
    "GET /api/schema/{path:str}",
    "GET /api/v1/portal/availability",
    "GET /api/v1/portal/availability/days",
    "POST /api/v1/portal/bookings",
    "GET /api/v1/portal/bookings/{token:str}",
    "POST /api/v1/portal/bookings/{token:str}/cancel",
    "POST /api/v1/portal/bookings/{token:str}/reschedule",
    "GET /api/v1/portal/surveys/{token:str}",  # reached by the link in a survey invitation
    "POST /api/v1/portal/surveys/{token:str}",
}


def routes_of(app: Litestar) -> dict[str, dict[str, object]]:
    table = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                if method != "OPTIONS":
                    table[f"{method} {route.path}"] = handler.opt
    return table


def test_every_route_declares_public_or_a_permission(app: Litestar) -> None:
    assert unguarded_routes(app) == []


def test_public_routes_are_exactly_the_reviewed_list(app: Litestar) -> None:
    public = {name for name, opt in routes_of(app).items() if opt.get("public")}

    assert public == PUBLIC_ROUTES


def test_every_api_route_except_login_and_the_portal_requires_authentication(app: Litestar) -> None:
    api = {name: opt for name, opt in routes_of(app).items() if " /api/v1/" in name}

    open_api_routes = {name for name, opt in api.items() if opt.get("public") and " /api/v1/portal/" not in name}

    assert open_api_routes == {"POST /api/v1/auth/login", "POST /api/v1/auth/logout"}


def test_every_portal_route_is_rate_limited(app: Litestar) -> None:
    portal = {name: opt for name, opt in routes_of(app).items() if " /api/v1/portal/" in name}

    assert portal
    assert {opt.get("rate_limited") for opt in portal.values()} == {"portal"}


@get("/api/v1/forgotten", sync_to_thread=False)
def forgotten_route() -> dict[str, str]:
    return {"secret": "data"}


async def test_a_route_without_a_guard_declaration_is_reported_and_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    app.register(forgotten_route)
    await make_user("boss", Role.owner)
    await sign_in(client, "boss")

    response = await client.get("/api/v1/forgotten")

    assert unguarded_routes(app) == ["GET /api/v1/forgotten"]
    assert response.status_code == 403
    assert "secret" not in response.text


async def test_anonymous_calls_to_guarded_routes_get_401(app: Litestar, client: httpx.AsyncClient) -> None:
    guarded = [name for name, opt in routes_of(app).items() if not opt.get("public") and "{" not in name]

    statuses = {name: (await client.request(name.split()[0], name.split()[1])).status_code for name in guarded}

    assert guarded
    assert set(statuses.values()) == {401}, statuses
