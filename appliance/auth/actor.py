"""Who is acting: a user (by session or API token), the system, or a plugin, with what they may do."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from appliance.auth.roles import GLOBAL_ROLES, ROLE_PERMISSIONS, Permission, Role

ActorKind = Literal["user", "api_token", "system", "plugin", "customer", "anonymous"]


@dataclass(frozen=True)
class Grant:
    role: Role
    branch_id: UUID | None = None  # None: every branch


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str | None
    label: str
    auth_method: str  # password | sso | token | cli | system | none
    user_id: UUID | None = None
    grants: tuple[Grant, ...] = ()
    scopes: frozenset[Permission] | None = None  # an API token's narrowing; None: not narrowed
    ip: str | None = None
    request_id: str | None = None
    superuser: bool = field(default=False)  # the system itself and the CLI run by the host's admin

    def _grants_for(self, permission: Permission) -> list[Grant]:
        if self.scopes is not None and permission not in self.scopes:
            return []
        return [g for g in self.grants if permission in ROLE_PERMISSIONS[g.role]]

    def can(self, permission: Permission, branch_id: UUID | None = None) -> bool:
        """May act with `permission` in `branch_id` (or, with no branch given, in at least one branch)."""
        if self.superuser:
            return True
        grants = self._grants_for(permission)
        if branch_id is None:
            return bool(grants)
        return any(g.branch_id is None or g.branch_id == branch_id for g in grants)

    def branch_scope(self, permission: Permission) -> frozenset[UUID] | None:
        """The branches `permission` reaches: None means all of them."""
        if self.superuser:
            return None
        grants = self._grants_for(permission)
        if any(g.branch_id is None for g in grants):
            return None
        return frozenset(g.branch_id for g in grants if g.branch_id is not None)

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def as_event_actor(self) -> dict[str, str | None]:
        """The actor as it appears in event envelopes: identifiers only."""
        return {"kind": self.kind, "id": self.id, "auth_method": self.auth_method}


def system_actor(label: str = "system") -> Actor:
    return Actor(kind="system", id=None, label=label, auth_method="system", superuser=True)


def cli_actor() -> Actor:
    """Commands run on the host by its administrator."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(kind="system", id=None, label=f"cli:{who}", auth_method="cli", superuser=True)


ANONYMOUS = Actor(kind="anonymous", id=None, label="", auth_method="none")


def normalise_grant_role(role: Role, branch_id: UUID | None) -> Grant:
    return Grant(role, None if role in GLOBAL_ROLES else branch_id)
