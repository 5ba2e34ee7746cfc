"""Catalog actions: each write lands with its audit entry and outbox event, or not at all."""

from __future__ import annotations

import asyncio

import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.catalog import actions, schemas
from appliance.catalog.tables import Branch
from appliance.core import db
from appliance.core.errors import Forbidden, Invalid
from appliance.events.outbox import envelope_of
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_branch, make_user
from appliance.auth.queries import actor_of_user

OUTBOX_FAILURE_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER outbox_unavailable BEFORE INSERT ON outbox_event "
        "BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION outbox_unavailable() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'outbox unavailable'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER outbox_unavailable BEFORE INSERT ON outbox_event "
        "FOR EACH ROW EXECUTE FUNCTION outbox_unavailable()",
    ],
}
DROP_TRIGGER = {
    "sqlite": ["DROP TRIGGER outbox_unavailable"],
    "postgresql": ["DROP TRIGGER outbox_unavailable ON outbox_event", "DROP FUNCTION outbox_unavailable()"],
}


async def test_create_branch_writes_row_audit_entry_and_event(database: str) -> None:
    branch = await make_branch("静安店", "Asia/Shanghai")

    rows = await Branch.select().where(Branch.id == branch.id)
    audits = await AuditEntry.select().where(AuditEntry.target_id == str(branch.id)).output(load_json=True)
    events = await OutboxEvent.select().where(OutboxEvent.type == "branch.created").output(load_json=True)
    assert [r["name"] for r in rows] == ["静安店"]
    assert [(a["action"], a["target_type"], a["result"], a["actor_label"][:4]) for a in audits] == [
        ("branch.created", "branch", "success", "cli:")
    ]
    assert sorted(audits[0]["changed_fields"]) == ["address", "name", "opening_hours", "timezone"]
    assert len(events) == 1
    envelope = envelope_of(events[0])
    assert envelope.version == 1
    assert envelope.subject.id == str(branch.id)
    assert envelope.data["timezone"] == "Asia/Shanghai"
    assert envelope.actor["auth_method"] == "cli"


async def test_failure_at_the_last_step_leaves_no_row_audit_or_event(database: str) -> None:
    engine = db.current_engine()
    for statement in OUTBOX_FAILURE_TRIGGER[database]:
        await engine.run_ddl(statement)
    try:
        with pytest.raises(Exception, match="outbox unavailable"):
            await make_branch("徐汇店")
    finally:
        for statement in DROP_TRIGGER[database]:
            await engine.run_ddl(statement)

    assert await Branch.count() == 0
    assert await AuditEntry.count() == 0
    assert await OutboxEvent.count() == 0


async def test_concurrent_writers_all_commit(database: str) -> None:
    names = [f"店{i}" for i in range(12)]

    await asyncio.gather(*(make_branch(name) for name in names))

    assert sorted(r["name"] for r in await Branch.select(Branch.name)) == sorted(names)
    assert await AuditEntry.count().where(AuditEntry.action == "branch.created") == len(names)
    assert await OutboxEvent.count().where(OutboxEvent.type == "branch.created") == len(names)


async def test_unknown_time_zone_is_refused_and_changes_nothing(database: str) -> None:
    with pytest.raises(Invalid) as raised:
        await make_branch("浦东店", "Asia/Beijing")

    assert set(raised.value.fields) == {"timezone"}
    assert await Branch.count() == 0
    assert await AuditEntry.count() == 0


async def test_update_records_only_changed_fields_and_skips_no_ops(database: str) -> None:
    branch = await make_branch("静安店")
    owner = await actor_of_user((await make_user("boss", Role.owner)).id)

    updated = await actions.update_branch(
        branch.id, schemas.BranchUpdate(name="静安旗舰店", timezone="Asia/Shanghai"), actor=owner
    )
    await actions.update_branch(branch.id, schemas.BranchUpdate(name="静安旗舰店"), actor=owner)

    assert updated.name == "静安旗舰店"
    audits = await AuditEntry.select().where(AuditEntry.action == "branch.updated").output(load_json=True)
    assert [(a["changed_fields"], a["actor_label"]) for a in audits] == [(["name"], "boss")]


async def test_branch_scoped_manager_cannot_add_branches_or_touch_other_branches(database: str) -> None:
    mine, other = await make_branch("静安店"), await make_branch("徐汇店")
    manager = await actor_of_user((await make_user("mgr", Role.manager, branch_id=mine.id)).id)

    with pytest.raises(Forbidden):
        await actions.create_branch(schemas.BranchCreate(name="新店", timezone="Asia/Shanghai"), actor=manager)
    with pytest.raises(Forbidden):
        await actions.update_branch(other.id, schemas.BranchUpdate(name="x"), actor=manager)
    renamed = await actions.update_branch(mine.id, schemas.BranchUpdate(address="南京西路 1 号"), actor=manager)

    assert renamed.address == "南京西路 1 号"
    assert await Branch.count() == 2
