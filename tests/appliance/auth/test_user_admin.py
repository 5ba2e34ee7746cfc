"""Enabling an account again and changing its roles, on both engines: only within what the actor may
grant, never on oneself, audited, and the account's sessions end when its roles change."""

from __future__ import annotations

import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth import actions
from appliance.auth.queries import actor_of_user, session_epoch_of
from appliance.auth.roles import Role
from appliance.auth.schemas import GrantBody
from appliance.core.errors import Forbidden, Invalid, NotFound
from appliance.testing.builders import make_branch, make_user


async def audited(action: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = await AuditEntry.select(AuditEntry.target_id, AuditEntry.details).where(
        AuditEntry.action == action
    ).output(load_json=True)
    return rows


async def test_a_disabled_account_is_enabled_again_by_a_manager_of_its_branch(database: str) -> None:
    branch = await make_branch()
    manager = await actor_of_user((await make_user("mgr", Role.manager, branch_id=branch.id)).id)
    desk = await make_user("desk", Role.front_desk, branch_id=branch.id)
    await actions.disable_user(desk.id, actor=manager)

    enabled = await actions.enable_user(desk.id, actor=manager)

    assert enabled.active is True
    assert [r["target_id"] for r in await audited("user.enabled")] == [str(desk.id)]


async def test_a_branch_manager_does_not_even_see_an_owner_to_enable(database: str) -> None:
    branch = await make_branch()
    manager = await actor_of_user((await make_user("mgr", Role.manager, branch_id=branch.id)).id)
    owner = await make_user("boss2", Role.owner, password=None)

    with pytest.raises(NotFound):
        await actions.enable_user(owner.id, actor=manager)


async def test_an_owner_changes_roles_and_the_accounts_sessions_end(database: str) -> None:
    branch = await make_branch()
    other = await make_branch("徐汇店")
    owner = await actor_of_user((await make_user("boss", Role.owner)).id)
    desk = await make_user("desk", Role.front_desk, branch_id=branch.id)
    epoch = await session_epoch_of(desk.id)

    changed = await actions.change_grants(
        desk.id, [GrantBody(Role.manager, branch.id), GrantBody(Role.staff, other.id)], actor=owner
    )

    assert {(g.role, g.branch_id) for g in changed.grants} == {(Role.manager, branch.id), (Role.staff, other.id)}
    assert await session_epoch_of(desk.id) == epoch + 1
    [entry] = await audited("user.grants_changed")
    assert entry["details"]["before"] == [{"role": "front_desk", "branch_id": str(branch.id)}]  # type: ignore[index]


async def test_a_manager_may_not_raise_someone_above_what_it_may_grant_nor_change_itself(database: str) -> None:
    branch = await make_branch()
    manager_user = await make_user("mgr", Role.manager, branch_id=branch.id)
    manager = await actor_of_user(manager_user.id)
    desk = await make_user("desk", Role.front_desk, branch_id=branch.id)

    with pytest.raises(Forbidden):
        await actions.change_grants(desk.id, [GrantBody(Role.manager, branch.id)], actor=manager)
    with pytest.raises(Forbidden):
        await actions.change_grants(manager_user.id, [GrantBody(Role.staff, branch.id)], actor=manager)
    with pytest.raises(Invalid):
        await actions.change_grants(desk.id, [], actor=manager)
    assert await audited("user.grants_changed") == []
    kept = await actions.change_grants(desk.id, [GrantBody(Role.staff, branch.id)], actor=manager)
    assert [(g.role, g.branch_id) for g in kept.grants] == [(Role.staff, branch.id)]
