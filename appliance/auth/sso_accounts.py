"""The account behind an SSO sign-in: found by (issuer, subject), created just in time, its grants kept
in step with the provider's claims; every outcome audited."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID, uuid4

from appliance.audit.trail import record_change, record_failure
from appliance.auth.actor import Actor, Grant
from appliance.auth.claim_map import ClaimRule, grants_for
from appliance.auth.credentials import digest
from appliance.auth.queries import grants_of
from appliance.auth.tables import RoleGrant, SsoIdentity, User
from appliance.catalog.tables import Branch
from appliance.core.clock import utc_now
from appliance.core.db import is_unique_violation, write_transaction
from appliance.core.errors import Forbidden, Unauthenticated
from appliance.events.envelope import Subject

_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,150}$")


def _grant_data(grants: Iterable[Grant]) -> list[dict[str, str | None]]:
    return [{"role": g.role.value, "branch_id": str(g.branch_id) if g.branch_id else None} for g in grants]


async def _existing_branches(grants: tuple[Grant, ...]) -> tuple[Grant, ...]:
    """Grants whose branch exists: a role_map entry naming a deleted branch gives nothing."""
    wanted = [g.branch_id for g in grants if g.branch_id is not None]
    found = {r["id"] for r in await Branch.select(Branch.id).where(Branch.id.is_in(wanted))} if wanted else set()
    return tuple(g for g in grants if g.branch_id is None or g.branch_id in found)


async def _free_username(claims: Mapping[str, Any], issuer: str, subject: str) -> str:
    """The provider's preferred_username when it fits and is free — never taking over an existing
    account of that name — else a name derived from the subject."""
    preferred = claims.get("preferred_username")
    if isinstance(preferred, str) and _USERNAME.match(preferred):
        if not await User.exists().where(User.username == preferred):
            return preferred
    return "sso-" + digest(f"{issuer}\n{subject}")[:16]


async def sign_in_sso_user(
    issuer: str, claims: Mapping[str, Any], *, role_claim: str, rules: Iterable[ClaimRule], actor: Actor
) -> UUID:
    """The user id to start a session for. Refuses (audited, nothing written) a disabled account or
    one whose claims map to no role. Safe against two first sign-ins racing: the loser finds the row."""
    try:
        return await _sign_in(issuer, claims, role_claim, tuple(rules), actor)
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
    return await _sign_in(issuer, claims, role_claim, tuple(rules), actor)


async def _sign_in(issuer: str, claims: Mapping[str, Any], role_claim: str, rules: tuple[ClaimRule, ...], actor: Actor) -> UUID:
    subject = str(claims["sub"])
    identity = await SsoIdentity.select(SsoIdentity.user).where(
        (SsoIdentity.issuer == issuer) & (SsoIdentity.subject == subject)
    ).first()
    grants = await _existing_branches(grants_for(claims, role_claim, rules))
    user_id: UUID | None = identity["user"] if identity else None
    target = Subject("user", str(user_id)) if user_id else None
    username = ""
    if user_id is not None:
        row = await User.select(User.active, User.username).where(User.id == user_id).first()
        username = row["username"] if row else ""
        if row is None or not row["active"]:
            await record_failure("auth.login_failed", actor=actor, reason="account_disabled", target=target)
            raise Unauthenticated("this account is disabled in the appliance", code="sso_account_disabled")
    if not grants:
        await record_failure("auth.login_failed", actor=actor, reason="no_role_from_claims", target=target)
        raise Forbidden(
            f"your identity provider account has no role here: none of its {role_claim!r} values is mapped (APPLIANCE_OIDC_ROLE_MAP)",
            code="sso_no_role",
        )
    now = utc_now()
    system = Actor(kind="system", id=None, label=f"sso:{issuer}", auth_method="sso", ip=actor.ip, request_id=actor.request_id)
    async with write_transaction():
        if user_id is None:
            user_id = uuid4()
            username = await _free_username(claims, issuer, subject)
            name = claims.get("name")
            await User.insert(User(
                id=user_id, username=username, display_name=name[:200] if isinstance(name, str) else "",
                password_hash=None, created_at=now, updated_at=now,
            ))
            await SsoIdentity.insert(SsoIdentity(id=uuid4(), user=user_id, issuer=issuer, subject=subject, created_at=now))
            await RoleGrant.insert(*(RoleGrant(id=uuid4(), user=user_id, role=g.role.value, branch=g.branch_id) for g in grants))
            await record_change(
                "user.created", Subject("user", str(user_id)), {"user_id": str(user_id), "grants": _grant_data(grants)},
                actor=system, changed_fields=["username", "display_name", "grants"],
                details={"grants": _grant_data(grants), "source": "sso"},
            )
        else:
            await _sync_grants(user_id, grants, system)
        await User.update({User.last_login_at: now}).where(User.id == user_id)
        await SsoIdentity.update({SsoIdentity.last_login_at: now}).where(SsoIdentity.user == user_id)
        await record_change(
            "auth.logged_in", Subject("user", str(user_id)), {"user_id": str(user_id), "auth_method": "sso"},
            actor=Actor(kind="user", id=str(user_id), label=username, auth_method="sso", user_id=user_id, ip=actor.ip,
                        request_id=actor.request_id),
        )
    return user_id


async def _sync_grants(user_id: UUID, grants: tuple[Grant, ...], actor: Actor) -> None:
    """The provider is the source of truth for an SSO account's roles: replace them when they differ."""
    current = (await grants_of([user_id]))[user_id]
    if set(current) == set(grants):
        return
    await RoleGrant.delete().where(RoleGrant.user == user_id)
    await RoleGrant.insert(*(RoleGrant(id=uuid4(), user=user_id, role=g.role.value, branch=g.branch_id) for g in grants))
    await record_change(
        "user.grants_changed", Subject("user", str(user_id)), {"user_id": str(user_id), "grants": _grant_data(grants)},
        actor=actor, changed_fields=["grants"], details={"before": _grant_data(current), "after": _grant_data(grants)},
    )
