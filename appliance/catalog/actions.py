"""The only code that writes the catalog."""

from __future__ import annotations

from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.catalog import schemas
from appliance.catalog.logic import time_zone_problem
from appliance.catalog.queries import branch_schema, get_branch
from appliance.catalog.tables import Branch
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Forbidden, Invalid
from appliance.events.envelope import Subject


async def create_branch(data: schemas.BranchCreate, *, actor: Actor) -> schemas.Branch:
    # A new branch lies outside any branch-scoped grant, so only an all-branches grant may add one.
    if not actor.can(Permission.branches_write) or actor.branch_scope(Permission.branches_write) is not None:
        raise Forbidden("only an account with rights in every branch may add a branch")
    if problem := time_zone_problem(data.timezone):
        raise Invalid({"timezone": problem})
    now = utc_now()
    row = Branch(id=uuid4(), name=data.name, timezone=data.timezone, address=data.address, created_at=now, updated_at=now)
    async with write_transaction():
        await Branch.insert(row)
        branch = branch_schema(row.to_dict())
        await record_change(
            "branch.created", Subject("branch", str(row.id)), msgspec.to_builtins(branch), actor=actor,
            changed_fields=["name", "timezone", "address"],
        )
    return branch


async def update_branch(branch_id: UUID, data: schemas.BranchUpdate, *, actor: Actor) -> schemas.Branch:
    if not actor.can(Permission.branches_write, branch_id):
        raise Forbidden("you may not change this branch")
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if isinstance(tz := changes.get("timezone"), str) and (problem := time_zone_problem(tz)):
        raise Invalid({"timezone": problem})
    async with write_transaction():
        current = await get_branch(branch_id, actor=actor)
        changed = sorted(k for k, v in changes.items() if getattr(current, k) != v)
        if not changed:
            return current
        await Branch.update({**{getattr(Branch, k): changes[k] for k in changed}, Branch.updated_at: utc_now()}).where(
            Branch.id == branch_id
        )
        branch = await get_branch(branch_id, actor=actor)
        await record_change(
            "branch.updated", Subject("branch", str(branch_id)), msgspec.to_builtins(branch), actor=actor,
            changed_fields=changed,
        )
    return branch
