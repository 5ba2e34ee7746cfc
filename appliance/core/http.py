"""HTTP plumbing shared by every route: request ids, client addresses, RFC 9457 problem responses."""

from __future__ import annotations

import ipaddress
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from appliance.core.errors import AppError
from appliance.core.log import get_logger

PROBLEM_JSON = "application/problem+json"
REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

log = get_logger("appliance.http")

# Litestar's own exceptions by status, mapped to our stable codes.
_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("malformed_request", "Malformed request"),
    401: ("not_authenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("body_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
}


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


def ensure_request_id(scope: Scope) -> str:
    """The request's id, assigned on first use: the caller's X-Request-ID if it is sane, else a new one.

    Routing failures (404, 405) are answered before any middleware runs, so `problem()` assigns it too.
    """
    state = scope.setdefault("state", {})
    if not state.get("request_id"):
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        state["request_id"] = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    return str(state["request_id"])


# Probes hit these every few seconds; their request lines are debug-level noise.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestIdMiddleware:
    """Give each request an id (the caller's X-Request-ID if it is sane), bind it to the log, echo it
    back, and write one log line per request: method, route template (never the raw path or query,
    which may carry tokens or personal data), status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = ensure_request_id(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("path_template") or "unmatched"
            level = logging.DEBUG if route in _QUIET_ROUTES else logging.INFO
            log.log(
                level, "request", method=scope["method"], route=route, status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )


def client_ip(scope: Scope, trusted_proxies: tuple[str, ...]) -> str | None:
    """The peer address, or the last untrusted hop of X-Forwarded-For when the peer is a trusted proxy."""
    peer = scope.get("client")
    address = peer[0] if peer else None
    if not address or not trusted_proxies:
        return address
    trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def is_trusted(ip: str) -> bool:
        try:
            parsed = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(parsed in net for net in trusted)

    if not is_trusted(address):
        return address
    # Every X-Forwarded-For line, in order: a proxy may add its own line after the one the client sent.
    forwarded = ",".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_trusted(hop):
            return hop
    return address


def rate_limit_network(ip: str | None) -> str:
    """What a per-client limit counts under: an IPv4 address, or an IPv6 address's /64, which one
    subscriber holds whole (a client rotating through it is still one client). Not an address: itself."""
    if not ip:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    request: Request[Any, Any, Any],
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """The RFC 9457 body; `headers` (Allow, RateLimit-*) go on the response, `extra` into the body."""
    request_id = ensure_request_id(request.scope)
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": request_id,
    }
    body.update(extra)
    response_headers = {**(headers or {}), REQUEST_ID_HEADER: request_id}
    if "retry_after" in extra:
        response_headers["Retry-After"] = str(extra["retry_after"])
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=response_headers)


def app_error_handler(request: Request[Any, Any, Any], exc: AppError) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = dict(exc.extra)
    if fields := getattr(exc, "fields", None):
        extra["errors"] = [{"field": k, "message": v} for k, v in fields.items()]
    return problem(exc.status, exc.code, exc.title, exc.detail, request, **extra)


def _field_path(error: dict[str, Any]) -> str:
    """Litestar names body fields `data.x.y`; callers know them as `x.y`."""
    key = str(error.get("key") or "")
    if error.get("source") == "body" or key == "data" or key.startswith("data."):
        key = key.removeprefix("data").removeprefix(".")
    return key or "body"


# msgspec reports an unknown or missing key against the object holding it; callers want the key itself.
_KEY_PROBLEMS = (
    (re.compile(r"Object contains unknown field `([^`]+)`"), "unknown field"),
    (re.compile(r"Object missing required field `([^`]+)`"), "missing required field"),
)


def _field_error(item: dict[str, Any]) -> dict[str, str]:
    path = _field_path(item)
    message = re.sub(r" - at `[^`]*`", "", str(item.get("message", "invalid value")))
    for pattern, summary in _KEY_PROBLEMS:
        if found := pattern.search(message):
            parent = "" if path == "body" else path
            return {"field": ".".join(p for p in (parent, found.group(1)) if p), "message": summary}
    return {"field": path, "message": message}


def _validation_problem(request: Request[Any, Any, Any], errors: list[dict[str, str]]) -> Response[dict[str, Any]]:
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "validation_failed", "Validation failed", detail, request, errors=errors)


def validation_error_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = [_field_error(item) for item in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(item, dict)]
    if not errors:
        # Raised without field details: the body could not be read at all.
        return problem(400, "malformed_request", "Malformed request", "the request could not be parsed", request)
    return _validation_problem(request, errors)


def _unparsable_path_parameter(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    """The path parameter that fits a route's shape but not its type (`/branches/not-a-uuid`), if any.

    Litestar's router reports such a path as a bare 404 before any handler runs; callers are better
    served by a 422 naming the parameter.
    """
    segments = [s for s in request.url.path.split("/") if s]
    for route in request.app.routes:
        if len(route.path_components) != len(segments):
            continue
        failed: dict[str, str] | None = None
        for component, segment in zip(route.path_components, segments):
            if isinstance(component, str):
                if component != segment:
                    break
            elif component.parser is not None and failed is None:
                try:
                    component.parser(segment)
                except ValueError:
                    failed = {"field": component.name, "message": f"not a valid {component.type.__name__}"}
        else:
            if failed:
                return failed
    return None


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return validation_error_handler(request, exc)
    if status >= 500:
        return internal_error_handler(request, exc)
    if isinstance(exc, NotFoundException) and isinstance(exc.__cause__, ValueError):
        if bad_parameter := _unparsable_path_parameter(request):
            return _validation_problem(request, [bad_parameter])
    code, title = _HTTP_CODES.get(status, ("client_error", "Client error"))
    if isinstance(exc, ClientException) and status == 400:
        # Litestar raises a bare 400 only when the body cannot be decoded at all.
        detail = f"the request body is not valid JSON ({exc.detail})"
    elif isinstance(exc, (NotAuthorizedException, PermissionDeniedException)):
        detail = exc.detail or title
    else:
        detail = str(exc.detail) or title
    extra: dict[str, Any] = {}
    if status == 429 and (retry_after := _retry_after(exc.headers or {})) is not None:
        extra["retry_after"] = retry_after
    return problem(status, code, title, detail, request, headers=exc.headers, **extra)


def _retry_after(headers: Mapping[str, str]) -> int | None:
    """Seconds until the caller may retry: Litestar's rate limiter sends RateLimit-Reset, not Retry-After."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw = lowered.get("retry-after") or lowered.get("ratelimit-reset")
    try:
        return max(1, int(raw)) if raw else None
    except ValueError:
        return None


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Unexpected failure: the traceback goes to the log, the caller gets only the request id."""
    log.error("unhandled_error", exc_info=exc, route=request.scope.get("path_template"))
    return problem(500, "internal_error", "Internal server error", "an unexpected error occurred; quote the request id", request)


def database_busy_handler(request: Request[Any, Any, Any], exc: sqlite3.OperationalError) -> Response[dict[str, Any]]:
    """SQLite's write lock not had within its timeout: a retryable 503, not a failure of ours."""
    if "locked" not in str(exc) and "busy" not in str(exc):
        return internal_error_handler(request, exc)
    log.warning("database_busy", route=request.scope.get("path_template"))
    return problem(
        503, "database_busy", "Service busy", "the database is busy; retry in a moment", request, retry_after=1
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    sqlite3.OperationalError: database_busy_handler,
    AppError: app_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}
