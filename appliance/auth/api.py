"""JSON API: sign in and out, the current user, API tokens, staff accounts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from litestar.params import FromPath, FromQuery, JSONBody
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.status_codes import HTTP_200_OK

from appliance.auth import actions, mfa, queries, schemas
from appliance.auth.actor import ANONYMOUS, Actor
from appliance.auth.guards import AUTHENTICATED, PUBLIC, requires
from appliance.auth.roles import ROLE_PERMISSIONS, Permission
from appliance.auth.sessions import SessionManager, SsoTokens
from appliance.auth.step_up import forget_reauthentication, reauthenticated_at
from appliance.core.errors import Unauthenticated
from appliance.core.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, encode_cursor

AnyRequest = Request[Any, Any, Any]


def actor_of(request: AnyRequest) -> Actor:
    actor: Actor = request.scope["user"]
    return actor


def public_actor_of(request: AnyRequest) -> Actor:
    """Who a public form (a portal booking) acts as: the public, from the request's address, whoever is
    signed in on the device; a staff session on a front-desk tablet does not make it staff's booking."""
    actor = actor_of(request)
    return replace(ANONYMOUS, ip=actor.ip, request_id=actor.request_id)


def user_id_of(request: AnyRequest) -> UUID:
    """The signed-in user behind the request, for what belongs to a person (an inbox), not to a token."""
    user_id = actor_of(request).user_id
    if user_id is None:
        raise Unauthenticated("this belongs to a signed-in user")
    return user_id


def _sessions(request: AnyRequest) -> SessionManager:
    manager: SessionManager = request.app.state.sessions
    return manager


def session_cookie(manager: SessionManager, value: str, *, clear: bool = False) -> Cookie:
    return Cookie(
        key=manager.cookie_name, value=value, path="/", secure=manager.secure_cookie, httponly=True,
        samesite="lax", max_age=0 if clear else None,
    )


def _permissions(actor: Actor) -> list[str]:
    return sorted(p.value for p in Permission if actor.can(p))


async def start_session(
    request: AnyRequest, user_id: UUID, auth_method: str, *, mfa_pending: bool = False, sso: SsoTokens | None = None
) -> Response[schemas.Me]:
    """A brand-new session for a user who just proved who they are: any session the client brought
    ends first (no fixation), and the answer carries the new cookie and CSRF token."""
    manager = _sessions(request)
    if old := request.cookies.get(manager.cookie_name):
        await manager.destroy(old)
    epoch = await queries.session_epoch_of(user_id)
    session_id, session = await manager.create(user_id, epoch, auth_method, mfa_pending=mfa_pending, sso=sso)
    actor = await queries.actor_for_session(session, ip=actor_of(request).ip, request_id=actor_of(request).request_id)
    assert actor is not None
    me = schemas.Me(
        user=await queries.get_user(user_id, actor=actor), permissions=_permissions(actor),
        auth_method=auth_method, csrf_token=session.csrf_token, mfa_enrolment_required=mfa_pending,
    )
    return Response(me, cookies=[session_cookie(manager, session_id)])


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", opt={**PUBLIC, "rate_limited": "login", "csrf_exempt": True}, status_code=HTTP_200_OK)
    async def login(self, request: AnyRequest, data: JSONBody[schemas.LoginRequest]) -> Response[schemas.Me]:
        """Sign in with a local account. Starts a new session (a new id, whatever cookie was sent)."""
        result = await actions.authenticate(data, actor=actor_of(request), lockout=request.app.state.lockout)
        return await start_session(request, result.user_id, result.auth_method, mfa_pending=result.mfa_pending)

    @post("/mfa/totp", opt=AUTHENTICATED, status_code=HTTP_200_OK)
    async def start_totp(self, request: AnyRequest, data: JSONBody[schemas.TotpEnrolStart]) -> mfa.TotpEnrolment:
        """Set up an authenticator app: the secret and otpauth:// URI are in this response only. Needs
        your password again. In force once confirmed with a first code."""
        actor = actor_of(request)
        assert actor.user_id is not None
        return await mfa.start_totp_enrolment(actor.user_id, data.password, actor=actor)

    @post("/mfa/totp/confirm", opt=AUTHENTICATED, status_code=HTTP_200_OK)
    async def confirm_totp(self, request: AnyRequest, data: JSONBody[schemas.TotpEnrolConfirm]) -> Response[schemas.MfaEnrolled]:
        """Confirm with a first code; returns ten one-time recovery codes (shown once) and starts a new
        session with the account's roles (a new id and CSRF token)."""
        actor = actor_of(request)
        assert actor.user_id is not None
        confirmed = await mfa.confirm_totp_enrolment(actor.user_id, data.code, actor=actor)
        response = await start_session(request, actor.user_id, "password+totp")
        return Response(
            schemas.MfaEnrolled(recovery_codes=confirmed.recovery_codes, me=response.content),
            cookies=response.cookies,
        )

    @post("/logout", opt=PUBLIC, status_code=HTTP_200_OK)
    async def logout(self, request: AnyRequest) -> Response[dict[str, bool]]:
        """End the current session (idempotent: signing out twice is fine)."""
        manager = _sessions(request)
        if session_id := request.scope["state"].get("session_id"):
            await manager.destroy(session_id)
            await actions.record_logout(actor=actor_of(request))
        return Response({"signed_out": True}, cookies=[session_cookie(manager, "", clear=True)])

    @get("/me", opt=AUTHENTICATED)
    async def me(self, request: AnyRequest) -> schemas.Me:
        actor = actor_of(request)
        session = request.scope["state"].get("session")
        assert actor.user_id is not None
        return schemas.Me(
            user=await queries.get_user(actor.user_id, actor=actor), permissions=_permissions(actor),
            auth_method=actor.auth_method, csrf_token=session.csrf_token if session else None,
            mfa_enrolment_required=bool(session and session.mfa_pending),
        )

    @post("/tokens", opt=requires(Permission.tokens_manage))
    async def create_token(self, request: AnyRequest, data: JSONBody[schemas.TokenCreate]) -> schemas.TokenCreated:
        """Create an API token for your own account. The token is in this response only."""
        return await actions.create_api_token(data, actor=actor_of(request))

    @get("/tokens", opt=requires(Permission.tokens_manage))
    async def list_tokens(self, request: AnyRequest) -> list[schemas.ApiToken]:
        return await queries.list_tokens(actor=actor_of(request))

    @post("/tokens/{token_id:uuid}/revoke", opt=requires(Permission.tokens_manage), status_code=HTTP_200_OK)
    async def revoke_token(self, request: AnyRequest, token_id: FromPath[UUID]) -> schemas.ApiToken:
        return await actions.revoke_api_token(token_id, actor=actor_of(request))


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @post("/", opt=requires(Permission.users_manage))
    async def create_user(self, request: AnyRequest, data: JSONBody[schemas.UserCreate]) -> schemas.User:
        return await actions.create_user(data, actor=actor_of(request))

    @get("/", opt=requires(Permission.users_read))
    async def list_users(self, request: AnyRequest, cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT) -> Page[schemas.User]:
        after = decode_cursor(cursor)
        items, last = await queries.list_users(actor=actor_of(request), after=after, limit=check_limit(limit))
        return Page(items=items, next_cursor=encode_cursor(last) if last else None)

    @get("/{user_id:uuid}", opt=requires(Permission.users_read))
    async def get_user(self, request: AnyRequest, user_id: FromPath[UUID]) -> schemas.User:
        return await queries.get_user(user_id, actor=actor_of(request))

    @post("/{user_id:uuid}/mfa/reset", opt=requires(Permission.users_manage), status_code=HTTP_200_OK)
    async def reset_mfa(self, request: AnyRequest, user_id: FromPath[UUID], data: JSONBody[schemas.MfaReset]) -> schemas.User:
        """Owners only: take away another account's authenticator app (a lost phone). Its recovery codes
        go too, its sessions end, and it sets up a new one at its next sign-in. Send a reason and the
        current code of your own authenticator app (`totp`); signed in through SSO, sign in again at the
        identity provider first (`GET /api/v1/auth/oidc/step-up`), and send no code. Not for your own
        account."""
        actor = actor_of(request)
        await mfa.reset_totp(
            user_id, data.reason, data.totp, actor=actor, lockout=request.app.state.lockout,
            reauthenticated_at=reauthenticated_at(request),
        )
        await forget_reauthentication(request)
        return await queries.get_user(user_id, actor=actor)

    @post("/{user_id:uuid}/disable", opt=requires(Permission.users_manage), status_code=HTTP_200_OK)
    async def disable_user(self, request: AnyRequest, user_id: FromPath[UUID]) -> schemas.User:
        """Disable the account; its sessions end and its API tokens stop working at once."""
        return await actions.disable_user(user_id, actor=actor_of(request))
