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
    "GET /api/v1/auth/oidc/login",  # single sign-on starts before anyone is signed in (rate-limited)
    "GET /api/v1/auth/oidc/callback",  # the identity provider sends the browser back here (rate-limited)
    "POST /api/v1/auth/oidc/logout",  # like logout: idempotent, also with an expired session
    # the identity provider's server posts signed logout tokens here (Back-Channel Logout 1.0):
    # no session, the token's signature is the authentication (rate-limited like the portal)
    "POST /api/v1/auth/oidc/backchannel-logout",
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
    "GET /api/v1/portal/services/{service_id:uuid}/form",  # the questions a customer answers when booking
    "GET /api/v1/portal/surveys/{token:str}",  # reached by the link in a survey invitation
    "POST /api/v1/portal/surveys/{token:str}",
    "GET /api/v1/portal/unsubscribe/{token:str}",  # reached by the signed link in a customer's message
    "POST /api/v1/portal/unsubscribe/{token:str}",  # also mail clients' one-click unsubscribe (RFC 8058)
    # The portal's pages (appliance/web/portal.py): the same public actions as /api/v1/portal, as HTML.
    "GET /portal",
    "GET /portal/branches/{branch_id:uuid}",
    "GET /portal/services/{service_id:uuid}",
    "GET /portal/services/{service_id:uuid}/book",
    "POST /portal/services/{service_id:uuid}/book",
    "GET /portal/bookings/{token:str}",
    "POST /portal/bookings/{token:str}/cancel",
    "POST /portal/bookings/{token:str}/reschedule",
    "GET /portal/bookings/{token:str}/booking.ics",
    "GET /portal/survey/{token:str}",
    "POST /portal/survey/{token:str}",
    # The admin UI's door: the site root sends staff to it, the login form has no session yet, and
    # signing out is idempotent like the API's (with a session, its CSRF token is still checked).
    "GET /",
    "GET /admin/login",
    "POST /admin/login",
    "POST /admin/logout",
    "GET /static/{file_path:path}",  # stylesheet, scripts and their licences; no data
    "HEAD /static/{file_path:path}",
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


def test_every_api_route_except_sign_in_and_out_and_the_portal_requires_authentication(app: Litestar) -> None:
    api = {name: opt for name, opt in routes_of(app).items() if " /api/v1/" in name}

    open_api_routes = {name for name, opt in api.items() if opt.get("public") and " /api/v1/portal/" not in name}

    assert open_api_routes == {
        "POST /api/v1/auth/login", "POST /api/v1/auth/logout",
        "GET /api/v1/auth/oidc/login", "GET /api/v1/auth/oidc/callback", "POST /api/v1/auth/oidc/logout",
        "POST /api/v1/auth/oidc/backchannel-logout",
    }


def test_every_portal_route_is_rate_limited(app: Litestar) -> None:
    portal = {name: opt for name, opt in routes_of(app).items() if " /api/v1/portal/" in name or " /portal" in name}

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
    """…or, reading an admin page, a 303 to the login form that comes back to it."""
    guarded = [name for name, opt in routes_of(app).items() if not opt.get("public") and "{" not in name]

    answers = {name: await client.request(name.split()[0], name.split()[1]) for name in guarded}

    assert guarded
    pages = {n: a for n, a in answers.items() if n.startswith("GET /admin")}
    assert {a.status_code for n, a in answers.items() if n not in pages} == {401}
    assert pages
    for name, answer in pages.items():
        assert answer.status_code == 303, name
        assert answer.headers["location"].startswith("/admin/login?next=%2Fadmin"), name
