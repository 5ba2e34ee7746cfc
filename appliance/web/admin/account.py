"""My account /admin/account: who I am, my second factor (TOTP enrolment with recovery codes shown once)
and my API tokens (a new one shown once). Open to every signed-in session, including one that must
still set up its second factor before its roles apply (mfa_pending: the login sends it here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from appliance.auth import actions, mfa, queries
from appliance.auth.actor import Actor
from appliance.auth.api import actor_of, start_session
from appliance.auth.guards import AUTHENTICATED, requires
from appliance.auth.roles import Permission, Role
from appliance.auth.schemas import TokenCreate
from appliance.catalog.queries import get_branch
from appliance.core.clock import utc_now
from appliance.core.errors import AppError, Forbidden, Invalid, NotFound
from appliance.web.admin.shell import admin_page, field_messages, problem_text
from appliance.web.i18n import N_, Texts
from appliance.web.qr import qr_svg
from appliance.web.templating import AnyRequest, texts_for

ROLE_LABELS: Final = {
    Role.owner: N_("Owner"), Role.manager: N_("Manager"), Role.front_desk: N_("Front desk"), Role.staff: N_("Staff"),
    Role.compliance_officer: N_("Compliance officer"),
}
QR_TITLE: Final = N_("QR code of the setup link for your authenticator app")
METHOD_LABELS: Final = {
    "password": N_("Password"), "password+totp": N_("Password and authenticator app"),
    "recovery_code": N_("Password and a recovery code"), "sso": N_("Company account (SSO)"),
}
PERMISSION_LABELS: Final = {
    Permission.branches_read: N_("See branches"), Permission.branches_write: N_("Change branches"),
    Permission.users_read: N_("See staff accounts"), Permission.users_manage: N_("Manage staff accounts"),
    Permission.tokens_manage: N_("Manage own API tokens"), Permission.audit_read: N_("Read the audit log"),
    Permission.audit_export: N_("Export the audit log"), Permission.metrics_read: N_("Read metrics"),
    Permission.catalog_read: N_("See services and resources"), Permission.catalog_write: N_("Change services and resources"),
    Permission.bookings_read: N_("See bookings"), Permission.bookings_write: N_("Make and change bookings"),
    Permission.customers_read: N_("See customers"), Permission.customers_write: N_("Change customers"),
    Permission.loyalty_manage: N_("Manage loyalty points and tiers"), Permission.automation_read: N_("See automation"),
    Permission.automation_write: N_("Change automation"), Permission.data_export: N_("Export all data"),
    Permission.customers_export: N_("Export one customer's data"), Permission.customers_erase: N_("Erase one customer's data"),
    Permission.reports_read: N_("Read reports"), Permission.data_import: N_("Import data"),
}
# A token belongs to no branch, so its dates are shown in China's time, where the appliance is used.
TOKEN_ZONE: Final = "Asia/Shanghai"
TOKEN_LIFETIMES: Final = ((0, N_("Until revoked")), (30, N_("30 days")), (90, N_("90 days")), (365, N_("One year")))

FIELD_MESSAGES: Final = {
    "is not your current password": N_("This is not your current password."),
    "is not the current code of your authenticator app": N_("This is not the current code of your authenticator app."),
}


def _translated(fields: dict[str, str], texts: Texts) -> dict[str, str]:
    return {k: texts.gettext(FIELD_MESSAGES.get(v, v)) for k, v in fields.items()}


def _me(actor: Actor) -> UUID:
    if actor.kind != "user" or actor.user_id is None:
        raise Forbidden("sign in to see your account: an API token has no account page")
    return actor.user_id


def _mfa_pending(request: AnyRequest) -> bool:
    session = request.scope.get("state", {}).get("session")
    return bool(session and session.mfa_pending)


async def _branch_name(branch_id: UUID, actor: Actor) -> str:
    try:
        return (await get_branch(branch_id, actor=actor)).name
    except NotFound:
        return str(branch_id)


async def _grants(user_id: UUID, actor: Actor, texts: Texts) -> list[tuple[str, str]]:
    """(role, where) of the account's own grants — those of a session still enrolling too."""
    found = (await queries.grants_of([user_id]))[user_id]
    return [
        (texts.gettext(ROLE_LABELS[g.role]),
         texts.gettext("All branches") if g.branch_id is None else await _branch_name(g.branch_id, actor))
        for g in found
    ]


async def _second_factor(request: AnyRequest, user_id: UUID) -> dict[str, Any]:
    actor = actor_of(request)
    return {
        "sso": actor.auth_method == "sso", "enrolled": await mfa.has_confirmed_totp(user_id),
        "recovery_left": await mfa.remaining_recovery_codes(user_id), "mfa_pending": _mfa_pending(request),
    }


async def _tokens(request: AnyRequest, *, new_token: str | None = None, errors: dict[str, str] | None = None,
                  problem: str | None = None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    actor = actor_of(request)
    if not actor.can(Permission.tokens_manage):
        return {"may_hold_tokens": False}
    return {
        "may_hold_tokens": True, "tokens": await queries.list_tokens(actor=actor), "new_token": new_token,
        "scopes": [(p.value, PERMISSION_LABELS[p]) for p in Permission if actor.can(p)],
        "lifetimes": TOKEN_LIFETIMES, "token_errors": errors or {}, "token_problem": problem,
        "token_values": values or {"name": "", "scopes": [], "days": 0}, "now": utc_now(), "zone": TOKEN_ZONE,
    }


def _fragment(request: AnyRequest, name: str, context: dict[str, Any], *, status: int = 200) -> Template:
    return admin_page(request, f"admin/account/{name}", context, section="account", status=status)


class AccountPages(Controller):
    path = "/admin/account"
    include_in_schema = False

    @get("/", opt=AUTHENTICATED)
    async def account(self, request: AnyRequest) -> Template:
        actor, texts = actor_of(request), texts_for(request)
        user_id = _me(actor)
        context = {
            "username": actor.label, "grants": await _grants(user_id, actor, texts),
            "method": texts.gettext(METHOD_LABELS.get(actor.auth_method, actor.auth_method)),
            **await _second_factor(request, user_id), **await _tokens(request),
        }
        return admin_page(request, "admin/account/page.html", context, section="account")

    @post("/totp", opt=AUTHENTICATED)
    async def start_totp(self, request: AnyRequest) -> Template:
        """Step 1: the password again, then the secret (and otpauth URI) for the authenticator app, shown once."""
        actor, texts = actor_of(request), texts_for(request)
        user_id = _me(actor)
        form = await request.form()
        try:
            enrolment = await mfa.start_totp_enrolment(user_id, str(form.get("password", ""))[:1024], actor=actor)
        except Invalid as error:
            context = {**await _second_factor(request, user_id), "errors": _translated(field_messages(error), texts)}
            return _fragment(request, "_second_factor.html", context, status=error.status)
        except AppError as error:
            context = {**await _second_factor(request, user_id), "problem": problem_text(texts, error)}
            return _fragment(request, "_second_factor.html", context, status=error.status)
        qr_code = qr_svg(enrolment.otpauth_uri, title=texts.gettext(QR_TITLE))
        return _fragment(request, "_totp_confirm.html", {"enrolment": enrolment, "qr_code": qr_code, "errors": {}})

    @post("/totp/confirm", opt=AUTHENTICATED)
    async def confirm_totp(self, request: AnyRequest) -> Response[Any]:
        """Step 2: a first code from the app. The session starts again with the account's roles (a new
        id and CSRF token), so the recovery codes page leads on with a full page load."""
        actor, texts = actor_of(request), texts_for(request)
        user_id = _me(actor)
        form = await request.form()
        code = str(form.get("code", "")).strip().replace(" ", "")[:16]
        try:
            confirmed = await mfa.confirm_totp_enrolment(user_id, code, actor=actor)
        except Invalid as error:
            context = {"errors": _translated(field_messages(error), texts), "problem": None}
            return _fragment(request, "_totp_code_form.html", context, status=error.status)
        except AppError as error:
            return _fragment(request, "_totp_code_form.html", {"errors": {}, "problem": problem_text(texts, error)},
                             status=error.status)
        started = await start_session(request, user_id, "password+totp")
        response = _fragment(request, "_recovery_codes.html", {"codes": confirmed.recovery_codes})
        response.headers.update({"HX-Retarget": "#second-factor", "HX-Reswap": "outerHTML"})
        response.cookies.extend(started.cookies)
        return response

    @post("/tokens", opt=requires(Permission.tokens_manage))
    async def create_token(self, request: AnyRequest) -> Template:
        """A new API token with the chosen scopes; the token is on this answer only."""
        actor, texts = actor_of(request), texts_for(request)
        form = await request.form()
        name = str(form.get("name", "")).strip()[:100]
        scopes = [str(s) for s in form.getall("scopes")] if "scopes" in form else []
        days = int(str(form.get("days", "0"))) if str(form.get("days", "0")).isdigit() else 0
        values = {"name": name, "scopes": scopes, "days": days}
        errors: dict[str, str] = {}
        if not name:
            errors["name"] = texts.gettext("Give the token a name.")
        chosen = [Permission(s) for s in scopes if s in Permission._value2member_map_]
        if not chosen:
            errors["scopes"] = texts.gettext("Choose at least one permission.")
        if errors:
            return _fragment(request, "_tokens.html", await _tokens(request, errors=errors, values=values), status=422)
        expires = utc_now() + timedelta(days=days) if days in {d for d, _ in TOKEN_LIFETIMES if d} else None
        try:
            created = await actions.create_api_token(TokenCreate(name=name, scopes=chosen, expires_at=expires), actor=actor)
        except Invalid as error:
            failed = {"scopes" if k.startswith("scopes") else k: v for k, v in field_messages(error).items()}
            return _fragment(request, "_tokens.html", await _tokens(request, errors=failed, values=values), status=error.status)
        except AppError as error:
            context = await _tokens(request, problem=problem_text(texts, error), values=values)
            return _fragment(request, "_tokens.html", context, status=error.status)
        return _fragment(request, "_tokens.html", await _tokens(request, new_token=created.token))

    @post("/tokens/{token_id:uuid}/revoke", opt=requires(Permission.tokens_manage))
    async def revoke_token(self, request: AnyRequest, token_id: FromPath[UUID]) -> Template:
        await actions.revoke_api_token(token_id, actor=actor_of(request))
        return _fragment(request, "_tokens.html", await _tokens(request))
