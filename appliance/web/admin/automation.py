"""Automation rules: the list in running order with an on/off switch, the builder (trigger, conditions,
actions) saved through the rule actions with their problems shown inline, and a dry run on a booking."""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from appliance.auth.actor import Actor
from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.auth import queries as auth_queries
from appliance.automation import actions, logic, queries, schemas
from appliance.automation.defaults import DEFAULT_RULES, install_default_rules
from appliance.bookings import queries as booking_queries
from appliance.core.clock import utc_now
from appliance.core.errors import AppError, Invalid
from appliance.web.admin import rule_form
from appliance.web.admin.form_support import BUSINESS_ZONE, branch_choices
from appliance.web.admin.formdata import convert, field_errors
from appliance.web.admin.shell import admin_page, go_to, problem_text
from appliance.web.admin.users import ROLE_LABELS
from appliance.web.i18n import N_
from appliance.web.templating import AnyRequest, texts_for

MAX_ROWS = 60  # condition or action rows a posted form may claim (the actions cap both far lower)
MOST_APPROVERS = 200  # accounts an approval level offers by name
DRY_RUN_BOOKINGS = 50
# What the builder says when msgspec refuses these inputs, in place of its own wording.
SHAPE_MESSAGES = {
    "name": N_("Give the rule a name (at most 200 characters)."),
    "priority": N_("A whole number from 0 to 10000; lower runs first."),
    "description": N_("At most 2000 characters."),
}


def _rows(value: str, default: int) -> int:
    return min(int(value), MAX_ROWS) if re.fullmatch(r"\d{1,3}", value) else default


async def _dry_run_bookings(actor: Actor) -> list[Any]:
    """Bookings from a month ago on, to try a rule on."""
    filters = booking_queries.BookingFilter(starts_from=utc_now() - timedelta(days=30))
    bookings, _ = await booking_queries.list_bookings(filters, actor=actor, after=None, limit=DRY_RUN_BOOKINGS)
    return bookings


async def _approver_choices(actor: Actor) -> dict[str, Any]:
    """What an approval level may name: a role, or staff accounts by name (those the actor may see)."""
    users = (await auth_queries.list_users(actor=actor, after=None, limit=MOST_APPROVERS))[0] \
        if actor.can(Permission.users_read) else []
    return {"approver_roles": ROLE_LABELS, "approver_users": users, "level_rows": rule_form.level_rows,
            "level_name": rule_form.level_name}


def _trigger_text(trigger: dict[str, Any]) -> str:
    if "timer" in trigger:
        timer = trigger["timer"]
        return f"{timer.get('anchor')} {int(timer.get('offset_minutes', 0)):+d} min"
    return str(trigger.get("event", ""))


class AutomationPages(Controller):
    path = "/admin/automation"
    include_in_schema = False

    @get("/", opt=requires(Permission.automation_read))
    async def rules(self, request: AnyRequest) -> Template:
        actor = actor_of(request)
        rules, _ = await queries.list_rules(actor=actor, after=None, limit=200)
        branches = {b.id: b.name for b in await branch_choices(actor)}
        missing = [r.name for r in DEFAULT_RULES if r.name not in {rule.name for rule in rules}]
        return admin_page(request, "admin/automation/rules.html", {
            "rules": rules, "branch_names": branches, "trigger_text": _trigger_text, "missing_defaults": missing,
        }, section="automation")

    @post("/rules/defaults", opt=requires(Permission.automation_write))
    async def install_defaults(self, request: AnyRequest) -> Response[Any]:
        """The recommended rules not present yet (by name), as `appliance rules install-defaults` adds them."""
        await install_default_rules(actor=actor_of(request))
        return go_to(request, "/admin/automation")

    @post("/rules/{rule_id:uuid}/enabled", opt=requires(Permission.automation_write))
    async def switch(self, request: AnyRequest, rule_id: FromPath[UUID]) -> Template:
        """Turn a rule on or off from the list; answers with its row."""
        actor = actor_of(request)
        form = await request.form()
        rule = await actions.update_rule(rule_id, schemas.RuleUpdate(enabled=form.get("enabled") == "true"), actor=actor)
        branches = {b.id: b.name for b in await branch_choices(actor)}
        return admin_page(request, "admin/automation/_rule_row.html", {
            "rule": rule, "branch_names": branches, "trigger_text": _trigger_text,
        }, section="automation")

    async def _builder(self, request: AnyRequest, form: rule_form.RuleForm, *, rule: schemas.Rule | None,
                       status: int = 200, fragment: bool = False) -> Template:
        actor = actor_of(request)
        fields = await queries.builder_fields(actor, rule.branch_id if rule else None)
        context = {
            "rule": rule, "form": form, "fields": fields, "ops_for": functools.partial(rule_form.ops_for, fields),
            "events": sorted(logic.EVENTS), **await _approver_choices(actor),
            "anchors": logic.ANCHORS, "action_types": rule_form.ACTION_TYPES, "action_params": rule_form.action_params,
            "branches": await branch_choices(actor), "bookings": await _dry_run_bookings(actor) if rule else [],
            "may_write": actor.can(Permission.automation_write), "zone": BUSINESS_ZONE,
        }
        name = "admin/automation/_builder_form.html" if fragment else "admin/automation/builder.html"
        return admin_page(request, name, context, section="automation", status=status)

    @get("/rules/new", opt=requires(Permission.automation_write))
    async def new_rule(self, request: AnyRequest) -> Template:
        return await self._builder(request, rule_form.form_of({}), rule=None)

    @get("/rules/{rule_id:uuid}", opt=requires(Permission.automation_read))
    async def rule(self, request: AnyRequest, rule_id: FromPath[UUID]) -> Template:
        rule = await queries.get_rule(rule_id, actor=actor_of(request))
        return await self._builder(request, rule_form.form_of(msgspec.to_builtins(rule)), rule=rule)

    @get("/action-params/{row:int}", opt=requires(Permission.automation_read))
    async def params(self, request: AnyRequest, row: FromPath[int]) -> Template:
        """The inputs of one action type, swapped in when a row's type select (`action-<row>-type`) changes."""
        row = max(0, min(row, MAX_ROWS))
        kind = request.query_params.get(f"action-{row}-type", "")
        return admin_page(request, "admin/automation/_action_params.html", {
            "row": row, "params": rule_form.action_params(kind), "form": rule_form.RuleForm({}, 0, 0),
            **await _approver_choices(actor_of(request)),
        }, section="automation")

    @get("/condition-ops/{row:int}", opt=requires(Permission.automation_read))
    async def condition_ops(self, request: AnyRequest, row: FromPath[int]) -> Template:
        """The comparisons of the field a condition row (`cond-<row>-field`) now names, swapped in when it changes:
        only those its kind takes. A rule's branch adds its custom fields (`branch_id`)."""
        row = max(0, min(row, MAX_ROWS))
        try:
            branch_id = UUID(request.query_params.get("branch_id", ""))
        except ValueError:
            branch_id = None
        fields = await queries.builder_fields(actor_of(request), branch_id)
        values = {f"cond-{row}-field": request.query_params.get(f"cond-{row}-field", "")}
        return admin_page(request, "admin/automation/_condition_op.html", {
            "row": row, "form": rule_form.RuleForm(values, 0, 0), "ops_for": functools.partial(rule_form.ops_for, fields),
        }, section="automation")

    @post("/rules", opt=requires(Permission.automation_write))
    async def create(self, request: AnyRequest) -> Response[Any]:
        return await self._save(request, None)

    @post("/rules/{rule_id:uuid}", opt=requires(Permission.automation_write))
    async def update(self, request: AnyRequest, rule_id: FromPath[UUID]) -> Response[Any]:
        return await self._save(request, await queries.get_rule(rule_id, actor=actor_of(request)))

    async def _save(self, request: AnyRequest, rule: schemas.Rule | None) -> Response[Any]:
        """Nothing is saved unless the whole rule is right; otherwise every problem is shown at its input."""
        actor = actor_of(request)
        posted = await request.form()
        # An approval level's named users come from a multiple select: kept as one comma-separated value.
        values = {k: ",".join(str(v) for v in posted.getall(k)) for k in posted}
        built = rule_form.RuleForm(
            values=values, condition_rows=_rows(values.get("condition_rows", ""), rule_form.MIN_CONDITION_ROWS),
            action_rows=_rows(values.get("action_rows", ""), rule_form.MIN_ACTION_ROWS),
            nested_conditions=values.get("nested_conditions") or None,
        )
        fields = await queries.condition_fields(rule.branch_id if rule else None)
        draft = rule_form.rule_of(values, fields, condition_rows=built.condition_rows, action_rows=built.action_rows,
                                  nested_conditions=built.nested_conditions)
        texts = texts_for(request)
        status = 422
        try:
            if rule is None:
                saved = await actions.create_rule(convert(draft.body, schemas.RuleCreate, hints=SHAPE_MESSAGES), actor=actor)
            else:
                changes = {k: v for k, v in draft.body.items() if k != "branch_id"}
                saved = await actions.update_rule(rule.id, convert(changes, schemas.RuleUpdate, hints=SHAPE_MESSAGES),
                                                  actor=actor)
            return go_to(request, f"/admin/automation/rules/{saved.id}")
        except AppError as error:
            status = error.status
            inline, loose = field_errors(texts, Invalid(rule_form.level_paths(error.fields)) if isinstance(error, Invalid) else error)
            built.problems.extend([loose] if loose else [])
            for path, message in inline.items():
                target = rule_form.input_of(path, draft)
                if target is None:
                    built.problems.append(f"{path}: {message}")
                else:
                    built.errors[target] = f"{built.errors[target]}; {message}" if target in built.errors else message
        return await self._builder(request, built, rule=rule, status=status, fragment=True)

    @post("/rules/{rule_id:uuid}/dry-run", opt=requires(Permission.automation_read))
    async def dry_run(self, request: AnyRequest, rule_id: FromPath[UUID]) -> Template:
        """Which conditions hold for the chosen booking and which actions would run. Changes nothing."""
        actor = actor_of(request)
        form = await request.form()
        texts = texts_for(request)
        context: dict[str, Any] = {"result": None, "problem": None}
        try:
            booking_id = UUID(str(form.get("booking_id", "")).strip())
        except ValueError:
            context["problem"] = texts.gettext(N_("Choose a booking."))
            return admin_page(request, "admin/automation/_dry_run.html", context, section="automation", status=422)
        try:
            context["result"] = await queries.test_rule(rule_id, schemas.RuleTest(booking_id=booking_id), actor=actor)
        except AppError as error:
            context["problem"] = problem_text(texts, error)
            return admin_page(request, "admin/automation/_dry_run.html", context, section="automation", status=error.status)
        return admin_page(request, "admin/automation/_dry_run.html", context, section="automation")
