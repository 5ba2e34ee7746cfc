"""Catalog reads, limited to the branches the actor may see."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.catalog import schemas
from appliance.catalog.tables import Branch
from appliance.core.errors import NotFound


def branch_schema(row: dict[str, Any]) -> schemas.Branch:
    return schemas.Branch(**{f: row[f] for f in schemas.Branch.__struct_fields__})


async def get_branch(branch_id: UUID, *, actor: Actor) -> schemas.Branch:
    scope = actor.branch_scope(Permission.branches_read)
    row = await Branch.select().where(Branch.id == branch_id).first()
    if row is None or (scope is not None and branch_id not in scope):
        raise NotFound("no such branch")
    return branch_schema(row)


async def list_branches(*, actor: Actor, after: UUID | None, limit: int) -> tuple[list[schemas.Branch], UUID | None]:
    """A page ordered by id, and the id to continue after (None on the last page)."""
    query = Branch.select().order_by(Branch.id).limit(limit)
    if after is not None:
        query = query.where(Branch.id > after)
    scope = actor.branch_scope(Permission.branches_read)
    if scope is not None:
        query = query.where(Branch.id.is_in(list(scope) or [UUID(int=0)]))
    rows = await query
    return [branch_schema(r) for r in rows], rows[-1]["id"] if len(rows) == limit else None
