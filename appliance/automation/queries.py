"""Reads of rules, and the facts a rule's conditions see about one booking."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings.sealing import opened_answers
from appliance.automation import conditions, logic, schemas
from appliance.automation.approvals import may_decide
from appliance.automation.blocks import blocks_for, describe
from appliance.automation.tables import Approval, Rule
from appliance.bookings.actions import preview_reassignment
from appliance.bookings.states import Status
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.schemas import WEEKDAYS
from appliance.core.db import json_value
from appliance.core.errors import AppError, NotFound
from appliance.core.pagination import split_page
from appliance.customers.queries import custom_fields_of, rule_facts
from appliance.forms.queries import answer_kinds, profile_field_kinds


def rule_schema(row: dict[str, Any]) -> schemas.Rule:
    return schemas.Rule(
        id=row["id"], name=row["name"], description=row["description"], branch_id=row["branch"],
        enabled=row["enabled"], priority=row["priority"], stop_further=row["stop_further"],
        trigger=json_value(row["trigger"]), conditions=json_value(row["conditions"]), actions=json_value(row["actions"]),
        revision=row["revision"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def rule_for_write(rule_id: UUID) -> schemas.Rule:
    row = await Rule.select().where(Rule.id == rule_id).first()
    if row is None:
        raise NotFound("no such rule")
    return rule_schema(row)


def _visible(actor: Actor, branch_id: UUID | None) -> bool:
    scope = actor.branch_scope(Permission.automation_read)
    return scope is None or branch_id is None or branch_id in scope


async def get_rule(rule_id: UUID, *, actor: Actor) -> schemas.Rule:
    rule = await rule_for_write(rule_id)
    if not _visible(actor, rule.branch_id):
        raise NotFound("no such rule")
    return rule


async def list_rules(*, actor: Actor, after: tuple[int, UUID] | None, limit: int) -> tuple[list[schemas.Rule], tuple[int, UUID] | None]:
    """In the order they run (priority, then id); a branch-scoped reader sees its branches' rules and the
    rules of every branch."""
    query = Rule.select().order_by(Rule.priority, Rule.id).limit(limit + 1)
    scope = actor.branch_scope(Permission.automation_read)
    if scope is not None:
        query = query.where(Rule.branch.is_null() | Rule.branch.is_in(list(scope) or [UUID(int=0)]))
    if after is not None:
        priority, last_id = after
        query = query.where((Rule.priority > priority) | ((Rule.priority == priority) & (Rule.id > last_id)))
    rows, last = split_page(await query, limit)
    return [rule_schema(r) for r in rows], (last["priority"], last["id"]) if last else None


async def condition_fields(
    branch_id: UUID | None, *, within: Collection[UUID] | None = None
) -> Mapping[str, conditions.Field]:
    """What a rule of this branch (or of every branch) may test: the catalogue, its services' booking
    questions (of the branches `within`, when given) and the customers' profile fields."""
    return conditions.with_answers(await answer_kinds(branch_id, within=within), await profile_field_kinds())


async def builder_fields(actor: Actor, branch_id: UUID | None) -> Mapping[str, conditions.Field]:
    """`condition_fields` as the rule builder shows them to `actor`: a branch's questions only if they may
    read its rules, and for a rule of every branch only the questions of branches they may."""
    scope = actor.branch_scope(Permission.automation_read)
    if branch_id is not None and scope is not None and branch_id not in scope:
        branch_id = None
    return await condition_fields(branch_id, within=scope if branch_id is None else None)


async def booking_facts(booking_id: UUID, *, event_type: str, actor: Actor) -> dict[str, Any]:
    """The condition fields (automation.conditions.FIELDS) for one booking, times in its branch's zone."""
    row = await Booking.select(
        *Booking.all_columns(), Booking.branch.timezone, Booking.service.name, Booking.service.requires_approval,
    ).where(Booking.id == booking_id).first()
    if row is None or not actor.can(Permission.bookings_read, row["branch"]):
        raise NotFound("no such booking")
    local: datetime = row["starts_at"].astimezone(ZoneInfo(row["branch.timezone"]))
    resources = await Allocation.select(Allocation.resource, Allocation.resource.name).where(
        Allocation.booking == booking_id
    ).order_by(Allocation.id)
    return {
        "event.type": event_type,
        "booking.status": row["status"], "booking.channel": row["channel"], "booking.seats": row["seats"],
        "booking.price_amount": row["price_amount"], "booking.payment_status": row["payment_status"],
        "booking.weekday": WEEKDAYS[local.weekday()], "booking.hour": local.hour,
        "booking.lead_minutes": int((row["starts_at"] - row["created_at"]).total_seconds() // 60),
        "booking.resource_ids": sorted({str(r["resource"]) for r in resources}),
        "resource.names": sorted({r["resource.name"] for r in resources}),
        **await rule_facts(row["customer"], booking_completed=row["status"] == Status.completed.value),
        "service.id": str(row["service"]), "service.name": row["service.name"],
        "service.requires_approval": row["service.requires_approval"],
        "branch.id": str(row["branch"]),
        **conditions.answer_facts(conditions.ANSWERS, opened_answers(booking_id, row["answers"])),
        **conditions.answer_facts(conditions.PROFILE, await custom_fields_of(row["customer"])),
    }


async def test_rule(rule_id: UUID, data: schemas.RuleTest, *, actor: Actor) -> schemas.RuleTestResult:
    """What the rule would do for this booking now: whether its trigger matches the event, which conditions
    hold (each one, for the screen), and the actions it would run. Changes nothing."""
    rule = await get_rule(rule_id, actor=actor)
    own = logic.trigger_kind(rule.trigger)
    event_type = data.event_type or own
    facts = await booking_facts(data.booking_id, event_type=event_type, actor=actor)
    verdict = conditions.evaluate(rule.conditions, facts)
    matches = event_type == own and (rule.branch_id is None or str(rule.branch_id) == facts["branch.id"])
    return schemas.RuleTestResult(
        rule_id=rule.id, trigger_matches=matches, conditions_held=verdict.held,
        conditions=[
            schemas.LeafOut(path=leaf.path, field=leaf.field, op=leaf.op, expected=leaf.expected, actual=leaf.actual, held=leaf.held)
            for leaf in verdict.leaves
        ],
        facts=facts, would_run=await _would_run(rule.actions, data.booking_id, actor) if matches and verdict.held else [],
    )


async def _would_run(actions: list[dict[str, Any]], booking_id: UUID, actor: Actor) -> list[dict[str, Any]]:
    """The actions; a block with the resources and window it would block for this booking, an assignment
    with the resources the booking would then hold (or why it would not happen)."""
    described = []
    for action in actions:
        if action["type"] == "block_resource_window":
            action = {**action, **describe(await blocks_for(action, booking_id))}
        elif action["type"] == "assign_resource":
            try:
                after = await preview_reassignment(booking_id, UUID(action["resource_id"]), actor=actor)
                action = {**action, "would_hold": [str(r) for r in after]}
            except AppError as exc:
                action = {**action, "would_skip": exc.detail}
        described.append(action)
    return described


def _approval(row: dict[str, Any], actor: Actor) -> schemas.Approval:
    levels = json_value(row["levels"])
    return schemas.Approval(
        id=row["id"], booking_id=row["booking"], branch_id=row["booking.branch"], status=row["status"],
        level=row["level"], levels=levels, due_at=row["due_at"], history=json_value(row["history"]),
        can_decide=row["status"] == "pending" and may_decide(actor, levels[row["level"] - 1], row["booking.branch"]),
        created_at=row["created_at"],
    )


async def list_approvals(*, actor: Actor, status: str | None, limit: int) -> list[schemas.Approval]:
    """Oldest first (the queue), in the branches the caller may read bookings of."""
    query = Approval.select(*Approval.all_columns(), Approval.booking.branch).order_by(Approval.created_at).limit(limit)
    if status:
        query = query.where(Approval.status == status)
    scope = actor.branch_scope(Permission.bookings_read)
    if scope is not None:
        query = query.where(Approval.booking.branch.is_in(list(scope) or [UUID(int=0)]))
    return [_approval(row, actor) for row in await query]


async def get_approval(approval_id: UUID, *, actor: Actor) -> schemas.Approval:
    row = await Approval.select(*Approval.all_columns(), Approval.booking.branch).where(Approval.id == approval_id).first()
    if row is None or not actor.can(Permission.bookings_read, row["booking.branch"]):
        raise NotFound("no such approval")
    return _approval(row, actor)
