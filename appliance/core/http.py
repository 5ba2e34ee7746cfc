"""HTTP plumbing shared by every route: request ids, client addresses, RFC 9457 problem responses."""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
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


class RequestIdMiddleware:
    """Give each request an id (the caller's X-Request-ID if it is sane), bind it to the log, echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


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
    forwarded = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"), "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_trusted(hop):
            return hop
    return address


def problem(
    status: int, code: str, title: str, detail: str, request: Request[Any, Any, Any], **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": request_id_of(request.scope),
    }
    body.update(extra)
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


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


def _field_message(message: str) -> str:
    message = re.sub(r" - at `[^`]*`", "", message)
    unknown = re.search(r"Object contains unknown field `([^`]+)`", message)
    return "unknown field" if unknown else message


def validation_error_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        path = _field_path(item)
        message = str(item.get("message", "invalid value"))
        unknown = re.search(r"Object contains unknown field `([^`]+)`", message)
        if unknown:
            path = ".".join(p for p in (path if path != "body" else "", unknown.group(1)) if p)
        errors.append({"field": path, "message": _field_message(message)})
    if not errors:
        # Raised without field details: the body could not be read at all.
        return problem(400, "malformed_request", "Malformed request", "the request could not be parsed", request)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "validation_failed", "Validation failed", detail, request, errors=errors)


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return validation_error_handler(request, exc)
    if status >= 500:
        return internal_error_handler(request, exc)
    code, title = _HTTP_CODES.get(status, ("client_error", "Client error"))
    if isinstance(exc, ClientException) and status == 400:
        # Litestar raises a bare 400 only when the body cannot be decoded at all.
        detail = f"the request body is not valid JSON ({exc.detail})"
    elif isinstance(exc, (NotAuthorizedException, PermissionDeniedException)):
        detail = exc.detail or title
    else:
        detail = str(exc.detail) or title
    extra: dict[str, Any] = {}
    if status == 429 and exc.headers and "Retry-After" in exc.headers:
        extra["retry_after"] = int(exc.headers["Retry-After"])
    return problem(status, code, title, detail, request, **extra)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Unexpected failure: the traceback goes to the log, the caller gets only the request id."""
    log.error("unhandled_error", exc_info=exc, route=request.scope.get("path_template"))
    return problem(500, "internal_error", "Internal server error", "an unexpected error occurred; quote the request id", request)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    AppError: app_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}
