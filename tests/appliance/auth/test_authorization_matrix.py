"""Every route × every role, generated from the route table: a role without the route's permission gets 403,
one with it gets past the guard (whatever the handler then says of the made-up ids and empty bodies, never
a server error), and nobody signed in gets 401 anywhere but the reviewed public routes (or, on an admin
page, a 303 to the login form)."""

from __future__ import annotations

import re
import uuid

import httpx
from litestar import Litestar

from appliance.auth.roles import ROLE_PERMISSIONS, Role
from appliance.testing.builders import make_user, sign_in
from tests.appliance.auth.test_guards import routes_of

PARAMETER = re.compile(r"\{(\w+):(\w+)\}")
WITH_BODY = {"POST", "PUT", "PATCH"}


def concrete(path: str) -> str:
    """A route's path with made-up values for its parameters."""
    values = {"uuid": lambda: str(uuid.uuid4()), "int": lambda: "1"}
    return PARAMETER.sub(lambda m: values.get(m.group(2), lambda: "made-up")(), path)


async def call(client: httpx.AsyncClient, route: str, csrf: str | None) -> int:
    return (await respond(client, route, csrf)).status_code


async def respond(client: httpx.AsyncClient, route: str, csrf: str | None) -> httpx.Response:
    method, path = route.split(" ", 1)
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    return await client.request(method, concrete(path), json={} if method in WITH_BODY else None, headers=headers)


def sent_to_login(route: str, response: httpx.Response) -> bool:
    """An admin page read by nobody signed in answers with the login form's address, not a 401 problem."""
    method, path = route.split(" ", 1)
    return (
        path.startswith("/admin") and method == "GET" and response.status_code == 303
        and response.headers["location"].startswith("/admin/login?next=")
    )


def guarded(app: Litestar) -> dict[str, dict[str, object]]:
    return {
        name: opt for name, opt in routes_of(app).items()
        if not opt.get("public") and not name.split(" ", 1)[1].startswith("/api/schema")
    }


async def test_each_role_gets_exactly_the_routes_its_permissions_allow(app: Litestar, client: httpx.AsyncClient) -> None:
    routes = guarded(app)
    assert len(routes) > 50
    wrong: list[str] = []
    for role in Role:
        await make_user(f"matrix.{role.value}", role)
        me = await sign_in(client, f"matrix.{role.value}")
        for route, opt in sorted(routes.items()):
            permission = opt.get("permission")
            allowed = permission is None or permission in ROLE_PERMISSIONS[role]
            status = await call(client, route, me["csrf_token"])
            if status >= 500 or (status == 403) == allowed or status == 401:
                wrong.append(f"{role.value:18} {route}: {status}, expected {'allowed' if allowed else '403'}")
        client.cookies.clear()
    assert wrong == []


async def test_nobody_signed_in_gets_401_on_every_guarded_route(app: Litestar, client: httpx.AsyncClient) -> None:
    wrong = [
        f"{route}: {response.status_code}" for route in sorted(guarded(app))
        if (response := await respond(client, route, None)).status_code != 401 and not sent_to_login(route, response)
    ]
    assert wrong == []
