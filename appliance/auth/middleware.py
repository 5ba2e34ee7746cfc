"""Who is calling: resolves the actor from a bearer token or the session cookie, and checks CSRF."""

from __future__ import annotations

import hmac
import time
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from appliance.audit.trail import record_failure
from appliance.auth.actor import Actor
from appliance.auth.oidc import OidcClient, Unreachable
from appliance.auth.queries import actor_for_session, actor_for_token
from appliance.auth.sessions import SessionData, SessionManager
from appliance.core.errors import Forbidden
from appliance.core.http import client_ip, request_id_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = b"x-csrf-token"


def _header(scope: Scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), "")


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel and morsel.value else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class AuthenticationMiddleware:
    """Sets `scope["user"]` to an `Actor` (ANONYMOUS when nobody is signed in); guards decide access.

    Cookie-authenticated unsafe requests must carry the session's CSRF token in X-CSRF-Token and,
    when the browser sends an Origin, come from our own origin. Bearer-token requests carry no
    ambient credentials, so CSRF does not apply to them.
    """

    def __init__(
        self, app: ASGIApp, *, sessions: SessionManager, trusted_proxies: tuple[str, ...], public_url: str,
        oidc: OidcClient | None = None, recheck_seconds: int = 300,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.oidc = oidc
        self.recheck_seconds = recheck_seconds
        self.trusted_proxies = trusted_proxies
        self.public_origin = _origin(public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        ip = client_ip(scope, self.trusted_proxies)
        state = scope.setdefault("state", {})
        state["client_ip"] = ip
        request_id = request_id_of(scope)
        actor: Actor | None = None
        authorization = _header(scope, b"authorization")
        bearer = authorization[:7].lower() == "bearer "
        if bearer:
            actor = await actor_for_token(authorization[7:].strip(), ip=ip, request_id=request_id)
            state["auth_error"] = None if actor else "invalid_token"
        elif session_id := _cookie(scope, self.sessions.cookie_name):
            session = await self.sessions.load(session_id)
            if session is not None and session.sso is not None:
                session = await self._recheck_sso(session_id, session, ip=ip, request_id=request_id)
            if session is not None:
                actor = await actor_for_session(session, ip=ip, request_id=request_id)
            if actor is not None and session is not None:
                state["session_id"], state["session"] = session_id, session
                if method not in SAFE_METHODS:
                    self._check_csrf(scope, session.csrf_token)
        if actor is None:
            actor = Actor(kind="anonymous", id=None, label="", auth_method="none", ip=ip, request_id=request_id)
        if method not in SAFE_METHODS and not bearer:
            self._check_origin(scope)
        scope["user"] = actor
        structlog.contextvars.bind_contextvars(actor_kind=actor.kind, actor_id=actor.id)
        await self.app(scope, receive, send)

    async def _recheck_sso(self, session_id: str, session: SessionData, *, ip: str | None, request_id: str) -> SessionData | None:
        """Every recheck_seconds an SSO session asks the provider (its refresh token) whether the user may
        stay. A "no" — account disabled or deleted there, grant revoked, session ended — ends the session
        here; an unreachable provider does not (asked again after the next interval)."""
        assert session.sso is not None
        if self.oidc is None or time.time() - session.sso.checked_at < self.recheck_seconds:
            return session
        # Mark it checked first, so parallel requests of this session do not all ask (and a rotating
        # provider does not see its refresh token used twice).
        marked = msgspec.structs.replace(session, sso=msgspec.structs.replace(session.sso, checked_at=time.time()))
        await self.sessions.save(session_id, marked)
        outcome = await self.oidc.recheck(session.sso)
        if isinstance(outcome, Unreachable):
            return marked
        if outcome is None:
            await self.sessions.destroy(session_id)
            actor = Actor(kind="user", id=str(session.user_id), label="", auth_method="sso", user_id=session.user_id,
                          ip=ip, request_id=request_id)
            await record_failure("auth.session_ended", actor=actor, reason="identity_provider_refused", result="denied")
            return None
        renewed = msgspec.structs.replace(session, sso=outcome)
        await self.sessions.save(session_id, renewed)
        return renewed

    def _check_csrf(self, scope: Scope, expected: str) -> None:
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get("csrf_exempt"):
            return
        sent = _header(scope, CSRF_HEADER)
        if not sent or not hmac.compare_digest(sent, expected):
            raise Forbidden("missing or wrong X-CSRF-Token for a cookie-authenticated request", code="csrf_failed")

    def _check_origin(self, scope: Scope) -> None:
        origin = _header(scope, b"origin")
        if not origin:  # non-browser clients send none; browsers always do on unsafe requests
            return
        host = _header(scope, b"host")
        own = {self.public_origin, f"http://{host}".lower(), f"https://{host}".lower()}
        if origin.lower() not in own:
            raise Forbidden("cross-origin request refused", code="csrf_failed")
