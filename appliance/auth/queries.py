"""Reads: who a session or token belongs to, users and tokens as the API shows them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from appliance.auth import schemas
from appliance.auth.actor import Actor, Grant
from appliance.auth.credentials import digest
from appliance.auth.roles import Permission, Role
from appliance.auth.sessions import SessionData
from appliance.auth.tables import ApiToken, RoleGrant, User
from appliance.core.clock import utc_now
from appliance.core.db import json_value, uuid_value
from appliance.core.errors import NotFound
from appliance.core.pagination import split_page

# last_used_at is informational: refresh it at most this often to keep reads read-only.
_TOKEN_TOUCH_INTERVAL = timedelta(minutes=5)


async def grants_of(user_ids: list[UUID]) -> dict[UUID, tuple[Grant, ...]]:
    if not user_ids:
        return {}
    rows = await RoleGrant.select(RoleGrant.user, RoleGrant.role, RoleGrant.branch).where(
        RoleGrant.user.is_in(user_ids)
    )
    found: dict[UUID, list[Grant]] = {uid: [] for uid in user_ids}
    for row in rows:
        found[row["user"]].append(Grant(Role(row["role"]), row["branch"]))
    return {uid: tuple(sorted(g, key=lambda x: (x.role, str(x.branch_id)))) for uid, g in found.items()}


async def actor_for_session(session: SessionData, *, ip: str | None, request_id: str | None) -> Actor | None:
    """The session's user, if still active and the session not ended by a later epoch bump."""
    user = await User.select(User.id, User.username, User.active, User.session_epoch).where(
        User.id == session.user_id
    ).first()
    if user is None or not user["active"] or user["session_epoch"] != session.epoch:
        return None
    # Until the required second factor is set up, the session holds no role: it may only enrol.
    grants = () if session.mfa_pending else (await grants_of([user["id"]]))[user["id"]]
    return Actor(
        kind="user",
        id=str(user["id"]),
        label=user["username"],
        auth_method=session.auth_method,
        user_id=user["id"],
        grants=grants,
        ip=ip,
        request_id=request_id,
    )


# The token, its user and the user's grants in one round trip: every API-token request starts here.
_TOKEN_SQL = """
SELECT t.id, t.name, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, u.id AS user_id, u.active,
       g.role, g.branch
  FROM api_token t JOIN app_user u ON u.id = t."user" LEFT JOIN role_grant g ON g."user" = u.id
 WHERE t.token_hash = {}
"""


async def actor_for_token(token: str, *, ip: str | None, request_id: str | None) -> Actor | None:
    rows = await ApiToken.raw(_TOKEN_SQL, digest(token))
    now = utc_now()
    if not rows:
        return None
    row = rows[0]
    if row["revoked_at"] is not None or not row["active"]:
        return None
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return None
    if row["last_used_at"] is None or now - row["last_used_at"] > _TOKEN_TOUCH_INTERVAL:
        await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == row["id"])
    user_id = uuid_value(row["user_id"])
    grants = tuple(sorted(
        (Grant(Role(r["role"]), uuid_value(r["branch"]) if r["branch"] else None) for r in rows if r["role"]),
        key=lambda g: (g.role, str(g.branch_id)),
    ))
    scopes = frozenset(Permission(s) for s in json_value(row["scopes"]) if s in Permission._value2member_map_)
    return Actor(
        kind="api_token",
        id=str(row["id"]),
        label=row["name"],
        auth_method="token",
        user_id=user_id,
        grants=grants,
        scopes=scopes,
        ip=ip,
        request_id=request_id,
    )


async def actor_of_user(user_id: UUID, *, auth_method: str = "none") -> Actor:
    """An active user as an actor with their grants (for work done on their behalf, and tests)."""
    row = await User.select(User.username, User.active).where(User.id == user_id).first()
    if row is None or not row["active"]:
        raise NotFound("no such active user")
    grants = (await grants_of([user_id]))[user_id]
    return Actor(
        kind="user", id=str(user_id), label=row["username"], auth_method=auth_method, user_id=user_id, grants=grants
    )


def _user_schema(row: dict[str, Any], grants: tuple[Grant, ...]) -> schemas.User:
    return schemas.User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        active=row["active"],
        grants=[schemas.GrantBody(g.role, g.branch_id) for g in grants],
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
    )


_USER_COLUMNS = (User.id, User.username, User.display_name, User.active, User.created_at, User.last_login_at)


def _visible(grants: tuple[Grant, ...], scope: frozenset[UUID] | None) -> bool:
    """A branch-scoped reader sees users who hold a grant in one of its branches."""
    return scope is None or any(g.branch_id in scope for g in grants)


async def get_user(user_id: UUID, *, actor: Actor) -> schemas.User:
    row = await User.select(*_USER_COLUMNS).where(User.id == user_id).first()
    if row is None:
        raise NotFound("no such user")
    grants = (await grants_of([user_id]))[user_id]
    if not (actor.user_id == user_id or _visible(grants, actor.branch_scope(Permission.users_read))):
        raise NotFound("no such user")
    return _user_schema(row, grants)


async def list_users(*, actor: Actor, after: str | None, limit: int) -> tuple[list[schemas.User], str | None]:
    """One page ordered by username, and the username to continue after (None on the last page)."""
    query = User.select(*_USER_COLUMNS).order_by(User.username).limit(limit + 1)
    if after is not None:
        query = query.where(User.username > after)
    rows, last = split_page(await query, limit)
    all_grants = await grants_of([r["id"] for r in rows])
    scope = actor.branch_scope(Permission.users_read)
    items = [_user_schema(r, all_grants[r["id"]]) for r in rows if _visible(all_grants[r["id"]], scope)]
    return items, last["username"] if last else None


async def session_epoch_of(user_id: UUID) -> int:
    row = await User.select(User.session_epoch).where(User.id == user_id).first()
    if row is None:
        raise NotFound("no such user")
    epoch: int = row["session_epoch"]
    return epoch


def token_schema(row: dict[str, Any]) -> schemas.ApiToken:
    return schemas.ApiToken(
        id=row["id"], name=row["name"], prefix=row["prefix"], scopes=list(row["scopes"]),
        created_at=row["created_at"], expires_at=row["expires_at"], last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def list_tokens(*, actor: Actor) -> list[schemas.ApiToken]:
    rows = await ApiToken.select(
        ApiToken.id, ApiToken.name, ApiToken.prefix, ApiToken.scopes, ApiToken.created_at,
        ApiToken.expires_at, ApiToken.last_used_at, ApiToken.revoked_at,
    ).where(ApiToken.user == actor.user_id).order_by(ApiToken.created_at).output(load_json=True)
    return [token_schema(r) for r in rows]


async def user_id_by_username(username: str) -> UUID:
    row = await User.select(User.id).where(User.username == username).first()
    if row is None:
        raise NotFound(f"no user named {username!r}")
    user_id: UUID = row["id"]
    return user_id


async def count_users() -> int:
    return int(await User.count())
