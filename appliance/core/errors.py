"""The errors domain code raises; `app.py` maps them once to RFC 9457 problems, the CLI prints them."""

from __future__ import annotations

from collections.abc import Mapping


class AppError(Exception):
    """An expected failure with a stable snake_case code and a detail safe to show to the caller."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, extra: Mapping[str, object] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra: Mapping[str, object] = extra or {}


class Unauthenticated(AppError):
    status, code, title = 401, "not_authenticated", "Authentication required"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class Invalid(AppError):
    """Input that parsed but breaks a rule; `fields` maps each field path to its message."""

    status, code, title = 422, "validation_failed", "Validation failed"

    def __init__(self, fields: Mapping[str, str], *, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{k}: {v}" for k, v in fields.items()), code=code)
        self.fields = dict(fields)


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"


class Unavailable(AppError):
    status, code, title = 503, "unavailable", "Service unavailable"
