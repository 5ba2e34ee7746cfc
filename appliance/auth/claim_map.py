"""Which grants an SSO user gets from the identity provider's claims: pure, from the role_map setting."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from appliance.auth.actor import Grant, normalise_grant_role
from appliance.auth.roles import Role


@dataclass(frozen=True)
class ClaimRule:
    value: str  # a value of the role claim, e.g. the group "booking-frontdesk-jingan"
    grant: Grant


def parse_rule(entry: str) -> ClaimRule:
    """`VALUE=ROLE` (every branch) or `VALUE=ROLE@BRANCH_ID`; ValueError says what is wrong."""
    value, sep, target = entry.rpartition("=")
    if not sep or not value.strip():
        raise ValueError(f"{entry!r} is not VALUE=ROLE or VALUE=ROLE@BRANCH_ID")
    role_name, _, branch = target.strip().partition("@")
    try:
        role = Role(role_name)
    except ValueError:
        raise ValueError(f"{entry!r}: unknown role {role_name!r} (one of {', '.join(Role)})") from None
    try:
        branch_id = UUID(branch) if branch else None
    except ValueError:
        raise ValueError(f"{entry!r}: {branch!r} is not a branch id") from None
    return ClaimRule(value.strip(), normalise_grant_role(role, branch_id))


def role_map_problems(entries: Iterable[str]) -> list[str]:
    problems = []
    for entry in entries:
        try:
            parse_rule(entry)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def claim_values(claims: Mapping[str, Any], claim: str) -> frozenset[str]:
    """The role claim as a set of strings: providers send a list, a single string, or nothing."""
    raw = claims.get(claim)
    if isinstance(raw, str):
        return frozenset({raw})
    if isinstance(raw, list):
        return frozenset(v for v in raw if isinstance(v, str))
    return frozenset()


def grants_for(claims: Mapping[str, Any], claim: str, rules: Iterable[ClaimRule]) -> tuple[Grant, ...]:
    """Every grant whose value the user's claim holds, each once, in a stable order."""
    values = claim_values(claims, claim)
    found = {rule.grant for rule in rules if rule.value in values}
    return tuple(sorted(found, key=lambda g: (g.role, str(g.branch_id))))
