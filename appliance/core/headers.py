"""Security headers on every response, errors and 404s included (a before-send hook, not a route middleware)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

HSTS_VALUE = "max-age=31536000; includeSubDomains"  # one year (ASVS 3.4.1)
# Paths a business may embed in its own site (the customer portal); everything else never in a frame.
EMBEDDABLE_PREFIXES = ("/portal/", "/api/v1/portal/")
# Server-rendered pages send a Referer to their own origin only (never elsewhere, so tokens in their
# paths do not leak): from a no-referrer page Chromium posts forms with `Origin: null`, which the CSRF
# origin check must refuse. Everything else stays no-referrer.
PAGE_PREFIXES = ("/portal/", "/admin/")

Hook = Callable[[Message, Scope], Awaitable[None]]


def content_security_policy(frame_ancestors: str) -> str:
    """Same-origin resources only; no plugins, no <base> rewriting (ASVS 3.4.3)."""
    return (
        "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors}"
    )


def security_headers(*, hsts: bool, portal_frame_ancestors: Sequence[str]) -> Hook:
    staff_csp = content_security_policy("'none'")
    portal_csp = content_security_policy(" ".join(portal_frame_ancestors) if portal_frame_ancestors else "'none'")
    fixed = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # portal links carry tokens in their path
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if hsts:
        fixed["Strict-Transport-Security"] = HSTS_VALUE

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in fixed.items():
            headers[name] = value
        path = str(scope.get("path", "")).rstrip("/") + "/"  # the router may have dropped the trailing slash
        if path.startswith(PAGE_PREFIXES):
            headers["Referrer-Policy"] = "same-origin"
        embeddable = path.startswith(EMBEDDABLE_PREFIXES)
        headers["Content-Security-Policy"] = portal_csp if embeddable else staff_csp
        if not embeddable:
            headers["X-Frame-Options"] = "DENY"  # for browsers that predate frame-ancestors
        if str(scope.get("path", "")).startswith("/api/") and "cache-control" not in headers:
            headers["Cache-Control"] = "no-store"  # API answers may hold personal data (ASVS 14.3.2)

    return add_headers
