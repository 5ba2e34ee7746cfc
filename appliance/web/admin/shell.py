"""What every admin page shares: the navigation (what the role may see), rendering, and error pages.

Unsafe requests from these pages go through htmx, which sends the session's CSRF token as
X-CSRF-Token (`hx-headers` on <body>), so the authentication middleware checks them like any
cookie-authenticated API call; no page route is exempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Response
from litestar.types import ExceptionHandlersMap
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from appliance.auth.actor import Actor
from appliance.auth.api import actor_of
from appliance.auth.roles import Permission
from appliance.core.errors import AppError, Unauthenticated
from appliance.web.failures import unexpected_failure_handlers
from appliance.web.i18n import N_, Texts
from appliance.web.templating import AnyRequest, page, texts_for

LOGIN_PATH = "/admin/login"
HOME_PATH = "/admin/"
NO_STORE = {"Cache-Control": "no-store"}  # staff pages show personal data


@dataclass(frozen=True)
class Section:
    """One entry of the side navigation, shown to those who hold `permission` in some branch."""

    key: str
    label: str  # English; translated where shown
    path: str
    permission: Permission | None  # None: every signed-in staff member


# The order staff meet them in. A section's pages live in their own module under appliance/web/admin.
SECTIONS: tuple[Section, ...] = (
    Section("dashboard", N_("Dashboard"), "/admin/", None),
    Section("calendar", N_("Calendar"), "/admin/calendar", Permission.bookings_read),
    Section("bookings", N_("Bookings"), "/admin/bookings", Permission.bookings_read),
    Section("customers", N_("Customers"), "/admin/customers", Permission.customers_read),
    Section("catalog", N_("Catalog"), "/admin/catalog", Permission.catalog_read),
    Section("automation", N_("Automation"), "/admin/automation", Permission.automation_read),
    Section("reports", N_("Reports"), "/admin/reports", Permission.reports_read),
    Section("import", N_("Import"), "/admin/import", Permission.data_import),
    Section("users", N_("Users"), "/admin/users", Permission.users_read),
    Section("audit", N_("Audit log"), "/admin/audit", Permission.audit_read),
    Section("export", N_("Data export"), "/admin/export", Permission.data_export),
    Section("settings", N_("Settings"), "/admin/settings", Permission.metrics_read),
    Section("inbox", N_("Inbox"), "/admin/inbox", None),
    Section("account", N_("My account"), "/admin/account", None),
)


def visible_sections(actor: Actor) -> list[Section]:
    return [s for s in SECTIONS if s.permission is None or actor.can(s.permission)]


def admin_page(
    request: AnyRequest, name: str, context: Mapping[str, Any] | None = None, *, section: str, status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Template:
    """Render an admin template inside the shell: navigation for this actor, the CSRF token for htmx,
    never cached."""
    actor = actor_of(request)
    session = request.scope.get("state", {}).get("session")
    return page(request, name, {
        "actor": actor, "sections": visible_sections(actor), "section": section,
        "csrf_token": session.csrf_token if session else "", "can": actor.can, "P": Permission,
        **(context or {}),
    }, status=status, headers={**NO_STORE, **(headers or {})})


def signed_out_page(
    request: AnyRequest, name: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> Template:
    """A page in the shell for someone not signed in (the login form, an error before login): no navigation."""
    return page(request, name, {"actor": None, "sections": [], "section": "", "csrf_token": "", **(context or {})},
                status=status, headers=NO_STORE)


def is_htmx(request: AnyRequest) -> bool:
    return request.headers.get("hx-request") == "true"


def go_to(request: AnyRequest, path: str) -> Response[Any]:
    """After a successful POST: htmx loads `path` as a new page (HX-Location keeps history right);
    a plain form post gets a 303."""
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Location": path, **NO_STORE})
    return Redirect(path, status_code=HTTP_303_SEE_OTHER)


def problem_text(texts: Texts, error: AppError) -> str:
    """A readable message in the staff member's language for an error that names no input."""
    known = {
        "slot_unavailable": N_("That time is taken: %(detail)s"),
        "invalid_transition": N_("This booking cannot make that change now: %(detail)s"),
        "forbidden": N_("Your role may not do this."),
        "not_found": N_("This no longer exists, or you may not see it."),
        "conflict": N_("It conflicts with something else: %(detail)s"),
    }
    template = known.get(error.code)
    if template is None:
        return texts.gettext("Something went wrong: %(detail)s") % {"detail": error.detail}
    return texts.gettext(template) % {"detail": error.detail}


def field_messages(error: AppError) -> dict[str, str]:
    """Per-input messages of a validation error (field path → message), for inline display."""
    fields: dict[str, str] = getattr(error, "fields", None) or {}
    return dict(fields)


def _message_page(request: AnyRequest, message: str, status: int) -> Response[Any]:
    actor = request.scope.get("user")
    if actor is None or actor.kind == "anonymous":
        return signed_out_page(request, "admin/error.html", {"problem": message}, status=status)
    return admin_page(request, "admin/error.html", {"problem": message}, section="", status=status)


def _error_page(request: AnyRequest, error: AppError) -> Response[Any]:
    if isinstance(error, Unauthenticated) and request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=HTTP_303_SEE_OTHER)
    texts = texts_for(request)
    if isinstance(error, Unauthenticated):
        message = texts.gettext("Your session has ended. Please sign in again.")
    else:
        message = problem_text(texts, error)
    return _message_page(request, message, error.status)


def admin_exception_handlers() -> ExceptionHandlersMap:
    """Errors on admin pages are pages (or a login redirect), not problem+json."""
    return {**unexpected_failure_handlers(_message_page), AppError: _error_page}
