"""The only code that writes rules. Every change is audited with the rule before and after (rules hold
no personal data), and checked as a whole: trigger, conditions against the field catalogue, actions."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.automation import conditions, logic, schemas
from appliance.automation.queries import condition_fields, rule_for_write, rule_schema
from appliance.automation.tables import Rule
from appliance.catalog.tables import Branch, Resource
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Forbidden, Invalid
from appliance.events.envelope import Subject

async def _problems(draft: schemas.RuleCreate) -> dict[str, str]:
    fields = await condition_fields(draft.branch_id)
    return (
        logic.trigger_problems(draft.trigger) | conditions.problems(draft.conditions, fields)
        | logic.actions_problems(draft.actions)
    )


async def _named_resource_problems(draft: schemas.RuleCreate) -> dict[str, str]:
    """Resources the actions name must exist, in the rule's branch when it has one."""
    problems: dict[str, str] = {}
    for index, action in enumerate(draft.actions):
        if not isinstance(action, dict) or not action.get("resource_id"):
            continue
        row = await Resource.select(Resource.branch).where(Resource.id == UUID(action["resource_id"])).first()
        if row is None or (draft.branch_id is not None and row["branch"] != draft.branch_id):
            problems[f"actions[{index}].resource_id"] = "no such resource" + (" in this rule's branch" if row else "")
    return problems


def check_may_write(actor: Actor, branch_id: UUID | None) -> None:
    """A rule of one branch needs the permission there; a rule of every branch needs it everywhere."""
    allowed = actor.can(Permission.automation_write, branch_id) if branch_id else (
        actor.branch_scope(Permission.automation_write) is None
    )
    if not allowed:
        raise Forbidden("you may not change the rules of this branch" if branch_id else "rules of every branch need a grant in every branch")


async def create_rule(data: schemas.RuleCreate, *, actor: Actor) -> schemas.Rule:
    check_may_write(actor, data.branch_id)
    if problems := await _problems(data):
        raise Invalid(problems)
    now = utc_now()
    rule_id = uuid4()
    async with write_transaction():
        if data.branch_id and not await Branch.exists().where(Branch.id == data.branch_id):
            raise Invalid({"branch_id": "no such branch"})
        if problems := await _named_resource_problems(data):
            raise Invalid(problems)
        row = Rule(
            id=rule_id, name=data.name.strip(), description=data.description, branch=data.branch_id,
            enabled=data.enabled, priority=data.priority, stop_further=data.stop_further, trigger=data.trigger,
            conditions=data.conditions, actions=data.actions, revision=1, created_at=now, updated_at=now,
        )
        await Rule.insert(row)
        rule = rule_schema(row.to_dict())
        await _audit("rule.created", rule, actor, before=None, changed=sorted(schemas.RuleCreate.__struct_fields__))
    return rule


async def update_rule(rule_id: UUID, data: schemas.RuleUpdate, *, actor: Actor) -> schemas.Rule:
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    async with write_transaction():
        current = await rule_for_write(rule_id)
        check_may_write(actor, current.branch_id)
        draft = schemas.RuleCreate(**{
            f: changes.get(f, getattr(current, f)) for f in schemas.RuleCreate.__struct_fields__ if f != "branch_id"
        }, branch_id=current.branch_id)
        if problems := await _problems(draft) or await _named_resource_problems(draft):
            raise Invalid(problems)
        changed = sorted(k for k, v in changes.items() if getattr(current, k) != v)
        if not changed:
            return current
        rule = msgspec.structs.replace(
            current, **{k: changes[k] for k in changed}, revision=current.revision + 1, updated_at=utc_now()
        )
        await Rule.update({
            **{getattr(Rule, k): changes[k] for k in changed}, Rule.revision: rule.revision, Rule.updated_at: rule.updated_at,
        }).where(Rule.id == rule_id)
        await _audit("rule.updated", rule, actor, before=current, changed=changed)
    return rule


async def delete_rule(rule_id: UUID, *, actor: Actor) -> None:
    async with write_transaction():
        current = await rule_for_write(rule_id)
        check_may_write(actor, current.branch_id)
        await Rule.delete().where(Rule.id == rule_id)
        await _audit("rule.deleted", current, actor, before=current, changed=[], after=False)


def _definition(rule: schemas.Rule) -> dict[str, Any]:
    """What the audit keeps of a rule: everything but timestamps."""
    data: dict[str, Any] = msgspec.to_builtins(rule)
    return {k: v for k, v in data.items() if k not in ("created_at", "updated_at")}


async def _audit(
    action: str, rule: schemas.Rule, actor: Actor, *, before: schemas.Rule | None, changed: list[str], after: bool = True
) -> None:
    await record_change(
        action, Subject("rule", str(rule.id)), {"rule_id": str(rule.id), "revision": rule.revision}, actor=actor,
        changed_fields=changed,
        details={"before": _definition(before) if before else None, "after": _definition(rule) if after else None},
    )
