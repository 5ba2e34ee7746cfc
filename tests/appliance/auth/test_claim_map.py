"""The role_map setting: parsing, and which grants a provider's claims give."""

from __future__ import annotations

from uuid import UUID

import pytest

from appliance.auth.actor import Grant
from appliance.auth.claim_map import grants_for, parse_rule, role_map_problems
from appliance.auth.roles import Role
from appliance.settings import SettingsError, load_settings

BRANCH = UUID("0b5a1c2e-8d0c-4a54-9a59-3f1c1f1b2a10")


def test_values_map_to_roles_in_a_branch_or_everywhere() -> None:
    rules = [parse_rule(f"fd-jingan=front_desk@{BRANCH}"), parse_rule("owners=owner"), parse_rule(f"audit=compliance_officer@{BRANCH}")]

    assert grants_for({"groups": ["fd-jingan", "other"]}, "groups", rules) == (Grant(Role.front_desk, BRANCH),)
    assert grants_for({"groups": "owners"}, "groups", rules) == (Grant(Role.owner),)
    # compliance_officer always spans every branch, whatever the entry says
    assert grants_for({"groups": ["audit"]}, "groups", rules) == (Grant(Role.compliance_officer),)
    assert grants_for({"groups": 42}, "groups", rules) == ()
    assert grants_for({}, "groups", rules) == ()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("no-equals-sign", "is not VALUE=ROLE"),
        ("=owner", "is not VALUE=ROLE"),
        ("g=emperor", "unknown role 'emperor'"),
        ("g=staff@not-a-uuid", "'not-a-uuid' is not a branch id"),
    ],
)
def test_malformed_entries_are_named(entry: str, problem: str) -> None:
    assert problem in role_map_problems([entry])[0]


def test_settings_refuse_a_bad_role_map_and_scopes_without_openid() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"APPLIANCE_OIDC_ROLE_MAP": "a=owner,b=king", "APPLIANCE_OIDC_SCOPES": "profile email"})

    assert "APPLIANCE_OIDC_SCOPES: must include openid" in error.value.problems
    assert [p for p in error.value.problems if "ROLE_MAP" in p] == ["APPLIANCE_OIDC_ROLE_MAP: 'b=king': unknown role 'king' (one of owner, manager, front_desk, staff, compliance_officer)"]
