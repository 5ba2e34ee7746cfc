"""Staff single sign-on routes: send the browser to the identity provider, take it back, sign out there."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_303_SEE_OTHER

from appliance.auth.api import actor_of, session_cookie, start_session
from appliance.auth.claim_map import parse_rule
from appliance.auth.credentials import digest
from appliance.auth.guards import AUTHENTICATED, PUBLIC
from appliance.auth.oidc import FLOW_SECONDS, OidcClient, SsoLogin, StepUp, refused
from appliance.auth.sessions import SessionData, SessionManager
from appliance.auth.sso_accounts import sign_in_sso_user
from appliance.auth.step_up import remember_reauthentication, sso_session
from appliance.auth import actions
from appliance.core.errors import AppError, Invalid
from appliance.settings import Settings

AnyRequest = Request[Any, Any, Any]
SECURE_FLOW_COOKIE = "__Host-appliance-oidc"
PLAIN_FLOW_COOKIE = "appliance-oidc"


class BackchannelLogout(msgspec.Struct):
    logout_token: str = ""


class SignedOut(msgspec.Struct):
    signed_out: bool
    # Send the browser here to end the session at the identity provider too (RP-initiated logout).
    end_session_url: str | None


def _oidc(request: AnyRequest) -> OidcClient:
    client: OidcClient = request.app.state.oidc
    return client


def _flow_cookie(manager: SessionManager, value: str, *, clear: bool = False) -> Cookie:
    # SameSite=Lax: the provider's redirect back is a top-level GET, on which Lax cookies are sent.
    return Cookie(
        key=SECURE_FLOW_COOKIE if manager.secure_cookie else PLAIN_FLOW_COOKIE, value=value, path="/",
        secure=manager.secure_cookie, httponly=True, samesite="lax", max_age=0 if clear else FLOW_SECONDS,
    )


async def _finish_step_up(request: AnyRequest, login: SsoLogin) -> Response[Any]:
    """The re-authentication came back: it counts for the session that asked, in this browser, only."""
    assert login.step_up is not None
    manager: SessionManager = request.app.state.sessions
    session: SessionData | None = request.scope["state"].get("session")
    session_id: str | None = request.scope["state"].get("session_id")
    if session is None or not session_id or digest(session_id) != login.step_up.session_key:
        await actions.record_sso_failure("sso_step_up_other_session", actor=actor_of(request), action="auth.reauthentication_failed")
        raise refused("the confirmation does not belong to this browser's session: sign in again", "sso_step_up_other_session")
    await remember_reauthentication(request, session_id, session, actor=actor_of(request))
    settings: Settings = request.app.state.settings
    return Redirect(
        settings.public.url.rstrip("/") + login.step_up.return_to, status_code=HTTP_303_SEE_OTHER,
        cookies=[_flow_cookie(manager, "", clear=True)],
    )


class OidcController(Controller):
    path = "/api/v1/auth/oidc"
    tags = ["auth"]

    @get("/login", opt={**PUBLIC, "rate_limited": "login"}, status_code=HTTP_303_SEE_OTHER)
    async def login(self, request: AnyRequest) -> Redirect:
        """Start single sign-on: a 303 to the identity provider, with a cookie binding the flow to this browser."""
        flow_id, url = await _oidc(request).start()
        manager: SessionManager = request.app.state.sessions
        return Redirect(url, status_code=HTTP_303_SEE_OTHER, cookies=[_flow_cookie(manager, flow_id)])

    @get("/step-up", opt={**AUTHENTICATED, "rate_limited": "login"}, status_code=HTTP_303_SEE_OTHER)
    async def step_up(self, request: AnyRequest, return_to: str = "/admin/") -> Redirect:
        """Confirm who you are by signing in again at the identity provider (for an action that asks
        for it, such as resetting another account's second factor): a 303 there with `prompt=login` and
        `max_age=0`; back here, the session remembers the new sign-in for 5 minutes, then the browser
        goes to `return_to` (a path of the appliance). Sessions signed in through SSO only."""
        if not return_to.startswith("/") or return_to.startswith("//") or "\\" in return_to:
            raise Invalid({"return_to": "a path of the appliance, starting with one /"})
        session_id, session = sso_session(request)
        assert session.sso is not None
        ask = StepUp(subject=session.sso.subject, session_key=digest(session_id), return_to=return_to, asked_at=time.time())
        flow_id, url = await _oidc(request).start(step_up=ask)
        manager: SessionManager = request.app.state.sessions
        return Redirect(url, status_code=HTTP_303_SEE_OTHER, cookies=[_flow_cookie(manager, flow_id)])

    @get("/callback", opt={**PUBLIC, "rate_limited": "login"}, status_code=HTTP_303_SEE_OTHER)
    async def callback(
        self,
        request: AnyRequest,
        code: str | None = None,
        oauth_state: str | None = Parameter(query="state", default=None),
        iss: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> Response[Any]:
        """Where the identity provider sends the browser back. On success a new session and a 303 to the
        appliance; otherwise a problem saying why (a browser asking for HTML: the sign-in page saying it), and
        no session."""
        oidc = _oidc(request)
        manager: SessionManager = request.app.state.sessions
        settings: Settings = request.app.state.settings
        flow_id = request.cookies.get(SECURE_FLOW_COOKIE if manager.secure_cookie else PLAIN_FLOW_COOKIE)
        params = {"code": code, "state": oauth_state, "iss": iss, "error": error, "error_description": error_description}
        try:
            try:
                login = await oidc.finish(flow_id, params)
            except Exception as exc:
                reason = getattr(exc, "code", "sso_error")
                action = "auth.reauthentication_failed" if reason.startswith("sso_step_up") else "auth.login_failed"
                await actions.record_sso_failure(reason, actor=actor_of(request), action=action)
                raise
            if login.step_up is not None:
                return await _finish_step_up(request, login)
            rules = [parse_rule(entry) for entry in settings.oidc.role_map]
            user_id = await sign_in_sso_user(
                settings.oidc.issuer, login.claims, role_claim=settings.oidc.role_claim, rules=rules, actor=actor_of(request)
            )
        except AppError as error:
            if "text/html" not in request.headers.get("accept", ""):
                raise
            # A person's browser gets the sign-in page saying why; API clients keep the problem+json.
            failed = f"/admin/login?{urlencode({'sso_failed': error.code})}"
            return Redirect(failed, status_code=HTTP_303_SEE_OTHER, cookies=[_flow_cookie(manager, "", clear=True)])
        started = await start_session(request, user_id, "sso", sso=login.tokens)
        cookies = [*started.cookies, _flow_cookie(manager, "", clear=True)]
        return Redirect(settings.public.url.rstrip("/") + "/admin/", status_code=HTTP_303_SEE_OTHER, cookies=cookies)

    @post("/logout", opt=PUBLIC, status_code=HTTP_200_OK)
    async def logout(self, request: AnyRequest) -> Response[SignedOut]:
        """End the session here and give the provider's sign-out URL (with the ID token as a hint)."""
        manager: SessionManager = request.app.state.sessions
        session: SessionData | None = request.scope["state"].get("session")
        if session_id := request.scope["state"].get("session_id"):
            await manager.destroy(session_id)
            await actions.record_logout(actor=actor_of(request))
        id_token = session.sso.id_token if session and session.sso else None
        url = await _oidc(request).logout_url(id_token) if _oidc(request).enabled else None
        return Response(SignedOut(signed_out=True, end_session_url=url), cookies=[session_cookie(manager, "", clear=True)])

    @post(
        "/backchannel-logout", opt={**PUBLIC, "rate_limited": "portal", "csrf_exempt": True}, status_code=HTTP_200_OK,
        # The provider's server calls this, never a browser. Limited like the other public routes (per
        # address, APPLIANCE_PORTAL_REQUESTS_PER_MINUTE), not like sign-ins: an offboarding may end many sessions.
    )
    async def backchannel_logout(
        self, request: AnyRequest,
        data: BackchannelLogout = Body(media_type=RequestEncodingType.URL_ENCODED),
    ) -> Response[None]:
        """OpenID Connect Back-Channel Logout 1.0: the identity provider posts a signed logout token
        (form field `logout_token`) when a user signs out there or is signed out by an administrator.
        The sessions it names end here at once. Register `<public url>/api/v1/auth/oidc/backchannel-logout`
        as the client's backchannel_logout_uri. An invalid token gets a 400 problem and ends nothing."""
        oidc = _oidc(request)
        actor = actor_of(request)
        try:
            if not data.logout_token:
                raise AppError("the request carries no logout_token", code="logout_token_invalid", extra={"reason": "missing"})
            notice = await oidc.logout_notice(data.logout_token)
        except AppError as exc:
            reason = str(exc.extra.get("reason") or exc.code)
            await actions.record_sso_failure(reason, actor=actor, action="auth.logout_token_refused")
            raise
        await actions.end_sso_sessions(oidc.settings.issuer, notice, sessions=request.app.state.sessions, actor=actor)
        return Response(None, headers={"Cache-Control": "no-store"})
