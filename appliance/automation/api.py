"""JSON API for rules: CRUD and a dry run against a real booking."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.automation import actions, approvals, queries, schemas
from appliance.core.pagination import DEFAULT_LIMIT, Page, check_limit, decode_pair_cursor, encode_pair_cursor


class RuleController(Controller):
    path = "/api/v1/rules"
    tags = ["automation"]

    @post("/", opt=requires(Permission.automation_write))
    async def create_rule(self, request: AnyRequest, data: JSONBody[schemas.RuleCreate]) -> schemas.Rule:
        """A rule; trigger, conditions (against the documented fields) and actions are checked as a whole."""
        return await actions.create_rule(data, actor=actor_of(request))

    @get("/", opt=requires(Permission.automation_read))
    async def list_rules(
        self, request: AnyRequest, cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT
    ) -> Page[schemas.Rule]:
        """In the order they run: priority, then id."""
        items, last = await queries.list_rules(actor=actor_of(request), after=decode_pair_cursor(cursor, int), limit=check_limit(limit))
        return Page(items=items, next_cursor=encode_pair_cursor(str(last[0]), last[1]) if last else None)

    @get("/{rule_id:uuid}", opt=requires(Permission.automation_read))
    async def get_rule(self, request: AnyRequest, rule_id: FromPath[UUID]) -> schemas.Rule:
        return await queries.get_rule(rule_id, actor=actor_of(request))

    @patch("/{rule_id:uuid}", opt=requires(Permission.automation_write))
    async def update_rule(self, request: AnyRequest, rule_id: FromPath[UUID], data: JSONBody[schemas.RuleUpdate]) -> schemas.Rule:
        return await actions.update_rule(rule_id, data, actor=actor_of(request))

    @delete("/{rule_id:uuid}", opt=requires(Permission.automation_write), status_code=HTTP_204_NO_CONTENT)
    async def delete_rule(self, request: AnyRequest, rule_id: FromPath[UUID]) -> None:
        await actions.delete_rule(rule_id, actor=actor_of(request))

    @post("/{rule_id:uuid}/test", opt=requires(Permission.automation_read), status_code=HTTP_200_OK)
    async def test_rule(self, request: AnyRequest, rule_id: FromPath[UUID], data: JSONBody[schemas.RuleTest]) -> schemas.RuleTestResult:
        """Dry run on a booking: which conditions held and what would happen. Changes nothing."""
        return await queries.test_rule(rule_id, data, actor=actor_of(request))


class ApprovalController(Controller):
    path = "/api/v1/approvals"
    tags = ["automation"]

    @get("/", opt=requires(Permission.bookings_read))
    async def list_approvals(
        self, request: AnyRequest, status: FromQuery[Literal["pending", "approved", "rejected", "expired"] | None] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> list[schemas.Approval]:
        """The queue, oldest first; `can_decide` says which the caller may decide now."""
        return await queries.list_approvals(actor=actor_of(request), status=status, limit=check_limit(limit))

    @get("/{approval_id:uuid}", opt=requires(Permission.bookings_read))
    async def get_approval(self, request: AnyRequest, approval_id: FromPath[UUID]) -> schemas.Approval:
        return await queries.get_approval(approval_id, actor=actor_of(request))

    @post("/{approval_id:uuid}/{decision:str}", opt=requires(Permission.bookings_write), status_code=HTTP_200_OK)
    async def decide(
        self, request: AnyRequest, approval_id: FromPath[UUID], decision: FromPath[Literal["approve", "reject"]],
        data: JSONBody[schemas.Decision | None] = None,
    ) -> schemas.Approval:
        """Decide the current level: the last approval confirms the booking, a rejection rejects it."""
        actor = actor_of(request)
        await queries.get_approval(approval_id, actor=actor)  # 404 outside the caller's branches
        await approvals.decide(approval_id, decision, actor=actor, reason=data.reason if data else "")
        return await queries.get_approval(approval_id, actor=actor)
