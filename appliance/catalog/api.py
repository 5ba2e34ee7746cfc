"""JSON API for the catalog."""

from __future__ import annotations

from uuid import UUID

from litestar.params import FromPath, FromQuery, JSONBody
from litestar import Controller, get, patch, post

from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.catalog import actions, queries, schemas
from appliance.core.errors import Invalid
from appliance.core.pagination import DEFAULT_LIMIT, Page, check_limit, decode_cursor, encode_cursor


class BranchController(Controller):
    path = "/api/v1/branches"
    tags = ["catalog"]

    @post("/", opt=requires(Permission.branches_write))
    async def create_branch(self, request: AnyRequest, data: JSONBody[schemas.BranchCreate]) -> schemas.Branch:
        return await actions.create_branch(data, actor=actor_of(request))

    @get("/", opt=requires(Permission.branches_read))
    async def list_branches(
        self, request: AnyRequest, cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT
    ) -> Page[schemas.Branch]:
        after = decode_cursor(cursor)
        try:
            after_id = UUID(after) if after else None
        except ValueError:
            raise Invalid({"cursor": "not a cursor this API returned"}) from None
        items, last = await queries.list_branches(actor=actor_of(request), after=after_id, limit=check_limit(limit))
        return Page(items=items, next_cursor=encode_cursor(str(last)) if last else None)

    @get("/{branch_id:uuid}", opt=requires(Permission.branches_read))
    async def get_branch(self, request: AnyRequest, branch_id: FromPath[UUID]) -> schemas.Branch:
        return await queries.get_branch(branch_id, actor=actor_of(request))

    @patch("/{branch_id:uuid}", opt=requires(Permission.branches_write))
    async def update_branch(self, request: AnyRequest, branch_id: FromPath[UUID], data: JSONBody[schemas.BranchUpdate]) -> schemas.Branch:
        return await actions.update_branch(branch_id, data, actor=actor_of(request))
