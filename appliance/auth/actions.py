"""The only code that writes accounts, grants and tokens; each write is audited with its event."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change, record_failure
from appliance.auth import mfa, schemas
from appliance.auth.actor import Actor, Grant, normalise_grant_role
from appliance.auth.credentials import digest, display_prefix, new_api_token
from appliance.auth.lockout import LoginLockout
from appliance.auth.passwords import hash_password, needs_rehash, password_problem, verify_password
from appliance.auth.queries import actor_of_user, get_user, grants_of, token_schema
from appliance.auth.roles import GRANTABLE_BY, Permission, Role
from appliance.auth.oidc import LogoutNotice
from appliance.auth.sessions import SessionManager
from appliance.auth.tables import ApiToken, RoleGrant, SsoIdentity, User
from appliance.catalog.tables import Branch
from appliance.core.clock import utc_now
from appliance.core.db import is_unique_violation, write_transaction
from appliance.core.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthenticated
from appliance.events.envelope import Subject

LOGIN_FAILED = "invalid username or password"
LOCKED_OUT = "too many failed sign-ins for this username; try again later"
MAX_TOKEN_LIFETIME = timedelta(days=3650)


def _check_may_grant(actor: Actor, grants: list[Grant]) -> None:
    """A grant is allowed when the actor may manage users there and the role is not above its own."""
    for grant in grants:
        if actor.superuser:
            continue
        allowed_roles = frozenset().union(*(GRANTABLE_BY.get(r, frozenset()) for r in actor.roles))
        if grant.role not in allowed_roles or not actor.can(Permission.users_manage, grant.branch_id):
            raise Forbidden(f"you may not grant the role {grant.role.value} there")
        if grant.branch_id is None and actor.branch_scope(Permission.users_manage) is not None:
            raise Forbidden("a branch-scoped manager must name a branch for each grant")


async def create_user(data: schemas.UserCreate, *, actor: Actor) -> schemas.User:
    if not actor.can(Permission.users_manage):
        raise Forbidden("you may not manage users")
    if data.password is not None and (problem := password_problem(data.password)):
        raise Invalid({"password": problem})
    grants = [normalise_grant_role(g.role, g.branch_id) for g in data.grants]
    _check_may_grant(actor, grants)
    branch_ids = {g.branch_id for g in grants if g.branch_id is not None}
    # Hash before the transaction: argon2 is deliberately slow and SQLite's write lock is shared.
    password_hash = hash_password(data.password) if data.password is not None else None
    now = utc_now()
    user_id = uuid4()
    try:
        async with write_transaction():
            if branch_ids:
                found = {r["id"] for r in await Branch.select(Branch.id).where(Branch.id.is_in(list(branch_ids)))}
                if missing := branch_ids - found:
                    raise Invalid({"grants": f"unknown branch {sorted(map(str, missing))[0]}"})
            await User.insert(
                User(
                    id=user_id,
                    username=data.username,
                    display_name=data.display_name,
                    password_hash=password_hash,
                    created_at=now,
                    updated_at=now,
                )
            )
            await _insert_grants(user_id, grants)
            await record_change(
                "user.created",
                Subject("user", str(user_id)),
                {"user_id": str(user_id), "grants": _grant_data(grants)},
                actor=actor,
                changed_fields=["username", "display_name", "grants"] + (["password"] if data.password else []),
                details={"grants": _grant_data(grants)},
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise Conflict("that username is taken", code="username_taken") from exc
        raise
    return await get_user(user_id, actor=actor)


def _grant_data(grants: list[Grant]) -> list[dict[str, Any]]:
    return [{"role": g.role.value, "branch_id": str(g.branch_id) if g.branch_id else None} for g in grants]


async def _insert_grants(user_id: UUID, grants: list[Grant]) -> None:
    await RoleGrant.insert(*(RoleGrant(id=uuid4(), user=user_id, role=g.role.value, branch=g.branch_id) for g in grants))


class LoginResult(msgspec.Struct, frozen=True):
    user_id: UUID
    auth_method: str  # password, password+totp, recovery_code (password and a recovery code)
    mfa_pending: bool  # a second factor is required but not set up yet: the session may only enrol


async def authenticate(
    login: schemas.LoginRequest, *, actor: Actor, lockout: LoginLockout
) -> LoginResult:
    """Check a local login; audit it either way. A failure says nothing about which part was wrong or
    whether the account exists: unknown usernames cost the same password work and lock out the same."""
    username = login.username
    if await lockout.is_locked(username):
        await record_failure("auth.login_failed", actor=actor, reason="locked_out")
        raise RateLimited(LOCKED_OUT, code="account_locked")
    row = await User.select(User.id, User.password_hash, User.active).where(User.username == username).first()
    ok = verify_password(row["password_hash"] if row else None, login.password)
    if row is None or not ok or not row["active"]:
        target = Subject("user", str(row["id"])) if row else None
        reason = "unknown_account" if row is None else ("bad_password" if not ok else "account_disabled")
        await _failed(username, reason, target, actor=actor, lockout=lockout)
        raise Unauthenticated(LOGIN_FAILED, code="login_failed")
    user_id: UUID = row["id"]
    method, mfa_pending = "password", False
    if mfa.requires_mfa((await grants_of([user_id]))[user_id]):
        if not await mfa.has_confirmed_totp(user_id):
            mfa_pending = True
        elif not (login.totp or login.recovery_code):
            raise Unauthenticated("enter the code from your authenticator app (or a recovery code)", code="mfa_required")
        elif second := await mfa.check_second_factor(user_id, login.totp, login.recovery_code):
            # Short names: the audit log's auth_method column holds 16 characters.
            method = "password+totp" if second == "totp" else "recovery_code"
        else:
            await _failed(username, "bad_second_factor", Subject("user", str(user_id)), actor=actor, lockout=lockout)
            raise Unauthenticated("the code is wrong or was used already", code="mfa_failed")
    await lockout.succeeded(username)
    changes: dict[Any, Any] = {User.last_login_at: utc_now()}
    if needs_rehash(row["password_hash"]):
        changes[User.password_hash] = hash_password(login.password)
    async with write_transaction():
        await User.update(changes).where(User.id == user_id)
        await record_change(
            "auth.logged_in",
            Subject("user", str(user_id)),
            {"user_id": str(user_id), "auth_method": method, "mfa_pending": mfa_pending},
            actor=_as_user(actor, user_id, username, method),
        )
    return LoginResult(user_id, method, mfa_pending)


async def _failed(username: str, reason: str, target: Subject | None, *, actor: Actor, lockout: LoginLockout) -> None:
    locked_now = await lockout.failed(username)
    await record_failure("auth.login_failed", actor=actor, reason=reason, target=target)
    if locked_now:
        await record_failure("auth.locked_out", actor=actor, reason="too_many_failures", target=target)


def _as_user(actor: Actor, user_id: UUID, username: str, auth_method: str) -> Actor:
    return Actor(
        kind="user", id=str(user_id), label=username, auth_method=auth_method, user_id=user_id,
        ip=actor.ip, request_id=actor.request_id,
    )


async def record_sso_failure(reason: str, *, actor: Actor, action: str = "auth.login_failed") -> None:
    """A refused single sign-on callback (wrong state, issuer or nonce, a replayed code, …), or another
    refused message from the identity provider (an invalid back-channel logout token)."""
    await record_failure(action, actor=dataclasses.replace(actor, auth_method="sso"), reason=reason)


async def record_logout(*, actor: Actor) -> None:
    await record_change(
        "auth.logged_out", Subject("user", str(actor.user_id)), {"user_id": str(actor.user_id)}, actor=actor
    )


async def end_sso_sessions(issuer: str, notice: LogoutNotice, *, sessions: SessionManager, actor: Actor) -> int:
    """A back-channel logout from the identity provider. With a sid: end the sessions that provider
    session started here (not the user's others). With only a subject: end every session of that
    account (its epoch moves on). Audited per user; the number of users whose sessions ended."""
    system = dataclasses.replace(actor, kind="system", label=f"sso:{issuer}", auth_method="sso")
    if notice.sid is not None:
        ended = await sessions.destroy_sso_session(notice.sid)
        scope = "sid"
        async with write_transaction():
            for user_id in sorted(set(ended)):
                await _record_sessions_ended(user_id, scope, ended.count(user_id), system)
        return len(set(ended))
    row = await SsoIdentity.select(SsoIdentity.user).where(
        (SsoIdentity.issuer == issuer) & (SsoIdentity.subject == notice.subject)
    ).first()
    if row is None:
        return 0  # never signed in here: nothing to end
    async with write_transaction():
        await User.update({User.session_epoch: User.session_epoch + 1, User.updated_at: utc_now()}).where(
            User.id == row["user"]
        )
        await _record_sessions_ended(row["user"], "subject", None, system)
    return 1


async def _record_sessions_ended(user_id: UUID, scope: str, count: int | None, actor: Actor) -> None:
    details: dict[str, Any] = {"source": "backchannel_logout", "scope": scope}
    if count is not None:
        details["sessions"] = count
    await record_change(
        "auth.sessions_ended", Subject("user", str(user_id)), {"user_id": str(user_id), **details}, actor=actor,
        details=details,
    )


async def disable_user(user_id: UUID, *, actor: Actor) -> schemas.User:
    """Disable an account and end all its sessions (its epoch moves on); tokens stop working too."""
    target = await get_user(user_id, actor=actor)
    grants = [Grant(g.role, g.branch_id) for g in target.grants]
    if not actor.superuser:
        if actor.user_id == user_id:
            raise Forbidden("you may not disable your own account")
        _check_may_grant(actor, grants)
    async with write_transaction():
        await User.update({User.active: False, User.session_epoch: User.session_epoch + 1, User.updated_at: utc_now()}).where(
            User.id == user_id
        )
        await record_change(
            "user.disabled", Subject("user", str(user_id)), {"user_id": str(user_id)}, actor=actor,
            changed_fields=["active"],
        )
    return await get_user(user_id, actor=actor)


async def enable_user(user_id: UUID, *, actor: Actor) -> schemas.User:
    """Let a disabled account sign in again (its old sessions stay ended: the epoch moved on when disabled)."""
    target = await get_user(user_id, actor=actor)
    if not actor.superuser:
        _check_may_grant(actor, [Grant(g.role, g.branch_id) for g in target.grants])
    if target.active:
        return target
    async with write_transaction():
        await User.update({User.active: True, User.updated_at: utc_now()}).where(User.id == user_id)
        await record_change(
            "user.enabled", Subject("user", str(user_id)), {"user_id": str(user_id)}, actor=actor,
            changed_fields=["active"],
        )
    return await get_user(user_id, actor=actor)


async def change_grants(user_id: UUID, grants: list[schemas.GrantBody], *, actor: Actor) -> schemas.User:
    """Replace an account's roles. The actor must be allowed to hand out both the grants taken away and
    those given (GRANTABLE_BY), never on its own account; the account's sessions end so the new roles
    apply at once."""
    if not grants:
        raise Invalid({"grants": "give at least one role"})
    target = await get_user(user_id, actor=actor)
    before = [Grant(g.role, g.branch_id) for g in target.grants]
    after = list(dict.fromkeys(normalise_grant_role(g.role, g.branch_id) for g in grants))
    if not actor.superuser:
        if actor.user_id == user_id:
            raise Forbidden("you may not change your own roles")
        _check_may_grant(actor, before + after)
    if set(before) == set(after):
        return target
    if branch_ids := {g.branch_id for g in after if g.branch_id is not None}:
        found = {r["id"] for r in await Branch.select(Branch.id).where(Branch.id.is_in(list(branch_ids)))}
        if missing := branch_ids - found:
            raise Invalid({"grants": f"unknown branch {sorted(map(str, missing))[0]}"})
    async with write_transaction():
        await RoleGrant.delete().where(RoleGrant.user == user_id)
        await _insert_grants(user_id, after)
        await User.update({User.session_epoch: User.session_epoch + 1, User.updated_at: utc_now()}).where(
            User.id == user_id
        )
        await record_change(
            "user.grants_changed", Subject("user", str(user_id)),
            {"user_id": str(user_id), "grants": _grant_data(after)}, actor=actor, changed_fields=["grants"],
            details={"before": _grant_data(before), "after": _grant_data(after)},
        )
    return await get_user(user_id, actor=actor)


async def create_api_token(
    data: schemas.TokenCreate, *, actor: Actor, owner_id: UUID | None = None
) -> schemas.TokenCreated:
    """A token for the actor's own account (or, from the host's CLI, for `owner_id`), with scopes the
    owning account itself holds."""
    if owner_id is not None and not actor.superuser:
        raise Forbidden("only the host's administrator issues tokens for another account")
    if owner_id is None:
        if actor.kind != "user" or actor.user_id is None:
            raise Forbidden("API tokens are created from a signed-in session")
        owner_id = actor.user_id
    owner = await actor_of_user(owner_id)
    if not owner.can(Permission.tokens_manage):
        raise Forbidden("this account may not hold API tokens")
    for index, scope in enumerate(data.scopes):
        if not owner.can(scope):
            raise Invalid({f"scopes[{index}]": f"the account does not hold {scope.value}"})
    now = utc_now()
    if data.expires_at is not None and not now < data.expires_at <= now + MAX_TOKEN_LIFETIME:
        raise Invalid({"expires_at": "must be in the future and within ten years"})
    token = new_api_token()
    row = ApiToken(
        id=uuid4(),
        user=owner_id,
        name=data.name,
        prefix=display_prefix(token),
        token_hash=digest(token),
        scopes=sorted({s.value for s in data.scopes}),
        created_at=now,
        expires_at=data.expires_at,
    )
    async with write_transaction():
        await ApiToken.insert(row)
        await record_change(
            "api_token.created", Subject("api_token", str(row.id)),
            {"api_token_id": str(row.id), "user_id": str(owner_id), "scopes": row.scopes},
            actor=actor, changed_fields=["name", "scopes", "expires_at"],
        )
    return schemas.TokenCreated(token=token, api_token=token_schema(row.to_dict()))


async def revoke_api_token(token_id: UUID, *, actor: Actor) -> schemas.ApiToken:
    row = await ApiToken.select().where(ApiToken.id == token_id).output(load_json=True).first()
    # One's own tokens, or anyone's for an owner (offboarding, a leaked token).
    if row is None or (row["user"] != actor.user_id and not (actor.superuser or Role.owner in actor.roles)):
        raise NotFound("no such API token")
    if row["revoked_at"] is None:
        row["revoked_at"] = utc_now()
        async with write_transaction():
            await ApiToken.update({ApiToken.revoked_at: row["revoked_at"]}).where(ApiToken.id == token_id)
            await record_change(
                "api_token.revoked", Subject("api_token", str(token_id)), {"api_token_id": str(token_id)},
                actor=actor, changed_fields=["revoked_at"],
            )
    return token_schema(row)
