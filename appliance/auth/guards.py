"""The one guard every route passes: a route declares `public` or the permission it needs, or is refused."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.core.errors import Forbidden, Unauthenticated


def requires(permission: Permission) -> dict[str, Any]:
    """Route opt for a handler that needs `permission` (in at least one branch)."""
    return {"permission": permission}


PUBLIC: dict[str, Any] = {"public": True}
# Any signed-in user or valid token, whatever its permissions (e.g. "who am I").
AUTHENTICATED: dict[str, Any] = {"authenticated": True}


def _is_automatic_options(handler: BaseRouteHandler) -> bool:
    """Litestar's generated OPTIONS handler, which only lists the allowed methods."""
    return getattr(handler, "http_methods", None) == {"OPTIONS"} and handler.handler_name == "options_handler"


async def permission_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if handler.opt.get("public") or _is_automatic_options(handler):
        return
    permission = handler.opt.get("permission")
    authenticated_only = handler.opt.get("authenticated") is True
    if not (authenticated_only or isinstance(permission, Permission)):
        # Fail closed: a route that forgot to declare its permission serves nobody.
        raise Forbidden("this route declares no permission")
    actor: Actor | None = connection.scope.get("user")
    if actor is None or actor.kind == "anonymous":
        if connection.scope.get("state", {}).get("auth_error") == "invalid_token":
            raise Unauthenticated("the API token is invalid, expired or revoked", code="invalid_token")
        raise Unauthenticated("sign in, or send an API token as Authorization: Bearer")
    if isinstance(permission, Permission) and not actor.can(permission):
        raise Forbidden(f"this needs the permission {permission.value}")


def unguarded_routes(app: Litestar) -> list[str]:
    """`METHOD path` of every route that is neither public nor tied to a permission checked by the guard."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if _is_automatic_options(handler):
                continue
            declared = (
                handler.opt.get("public") is True
                or handler.opt.get("authenticated") is True
                or isinstance(handler.opt.get("permission"), Permission)
            )
            guarded = permission_guard in handler.resolve_guards()
            if not (declared and guarded):
                methods = ",".join(sorted(getattr(handler, "http_methods", {"WS"})))
                found.append(f"{methods} {route.path}")
    return sorted(found)
