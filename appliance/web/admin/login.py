"""Signing in to the admin UI: a local account (with its second factor when it has one) or SSO, and out."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from appliance.auth import actions
from appliance.auth.api import actor_of, session_cookie, start_session
from appliance.auth.guards import PUBLIC
from appliance.auth.schemas import LoginRequest
from appliance.auth.sessions import SessionManager
from appliance.core.errors import AppError
from appliance.web.admin.shell import HOME_PATH, go_to, signed_out_page
from appliance.web.i18n import N_
from appliance.web.templating import AnyRequest, texts_for

LOGIN_MESSAGES = {
    "login_failed": N_("The username or password is wrong."),
    "account_locked": N_("Too many failed attempts: this account is locked for a while. Try again later."),
    "mfa_required": N_("Enter the 6-digit code from your authenticator app, or a recovery code."),
    "mfa_failed": N_("That code is wrong or was used already."),
    "rate_limited": N_("Too many attempts from this address. Wait a minute and try again."),
}
# Why single sign-on sent the browser back here (`?sso_failed=<code>`, set by the OIDC callback).
SSO_MESSAGES = {
    "sso_no_role": N_(
        "Your company account signed in, but it gives you no role here. Ask an administrator to add you to a group "
        "that has access."
    ),
    "sso_account_disabled": N_("This account is disabled in the booking system. Ask an administrator."),
    "sso_refused_by_provider": N_("Your company's sign-in did not let you in (a wrong password or a disabled account)."),
    "sso_provider_unreachable": N_(
        "Your company's sign-in cannot be reached right now. Try again later, or sign in with your username and password."
    ),
    "sso_flow_unknown": N_("The sign-in took too long or was started in another window. Please try again."),
    "sso_state_mismatch": N_("The sign-in took too long or was started in another window. Please try again."),
}
SSO_FAILED = N_("Signing in with your company account did not work (%(code)s). Try again, or ask an administrator.")


def safe_next(target: str | None) -> str:
    """Only a path inside the admin UI: never an absolute URL or a scheme-relative one (open redirect)."""
    if not target:
        return HOME_PATH
    parts = urlsplit(target)
    inside = parts.path == "/admin" or parts.path.startswith("/admin/")
    if parts.scheme or parts.netloc or not inside or target.startswith("//"):
        return HOME_PATH
    return target


def _form_page(request: AnyRequest, *, next_path: str, username: str = "", problem: str | None = None,
               ask_code: bool = False, status: int = 200) -> Template:
    return signed_out_page(request, "admin/login.html", {
        "next": next_path, "username": username, "problem": problem, "ask_code": ask_code,
        "sso": request.app.state.oidc.enabled,
    }, status=status)


def _sso_problem(request: AnyRequest, code: str | None) -> str | None:
    """Why single sign-on failed, in the page language; a code from the address is only echoed when it is one."""
    if code is None:
        return None
    texts = texts_for(request)
    if code in SSO_MESSAGES:
        return texts.gettext(SSO_MESSAGES[code])
    return texts.gettext(SSO_FAILED) % {"code": code if re.fullmatch(r"[a-z_]{1,40}", code) else "?"}


class AdminLoginPages(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/login", opt=PUBLIC)
    async def login_form(
        self, request: AnyRequest, next: FromQuery[str | None] = None, sso_failed: FromQuery[str | None] = None,  # noqa: A002
    ) -> Response[Any]:
        if actor_of(request).kind == "user":
            return Redirect(safe_next(next), status_code=HTTP_303_SEE_OTHER)
        return _form_page(request, next_path=safe_next(next), problem=_sso_problem(request, sso_failed))

    @post("/login", opt={**PUBLIC, "rate_limited": "login", "csrf_exempt": True})
    async def login(self, request: AnyRequest) -> Response[Any]:
        """The login form posts here (no session yet, so no CSRF token; the Origin check still applies)."""
        form = await request.form()
        username = str(form.get("username", "")).strip()[:150]
        code = str(form.get("code", "")).strip().replace(" ", "")
        next_path = safe_next(str(form.get("next", "")))
        login = LoginRequest(
            username=username, password=str(form.get("password", ""))[:1024],
            totp=code[:16] if code and code.isdigit() else None,
            recovery_code=code[:32] if code and not code.isdigit() else None,
        )
        texts = texts_for(request)
        try:
            result = await actions.authenticate(login, actor=actor_of(request), lockout=request.app.state.lockout)
        except AppError as error:
            message = LOGIN_MESSAGES.get(error.code)
            text = texts.gettext(message) if message else texts.gettext("Sign-in failed: %(detail)s") % {"detail": error.detail}
            return _form_page(request, next_path=next_path, username=username, problem=text,
                              ask_code=error.code in ("mfa_required", "mfa_failed"), status=error.status)
        started = await start_session(request, result.user_id, result.auth_method, mfa_pending=result.mfa_pending)
        target = "/admin/account" if result.mfa_pending else next_path
        return Redirect(target, status_code=HTTP_303_SEE_OTHER, cookies=started.cookies)

    @post("/logout", opt=PUBLIC)
    async def logout(self, request: AnyRequest) -> Response[Any]:
        """End the session (signing out twice is fine); with a session, the CSRF token is checked as for any post."""
        manager: SessionManager = request.app.state.sessions
        if session_id := request.scope["state"].get("session_id"):
            await manager.destroy(session_id)
            await actions.record_logout(actor=actor_of(request))
        response = go_to(request, "/admin/login")
        response.cookies.append(session_cookie(manager, "", clear=True))
        return response
