"""The rules builder's form, both ways: a rule shown as inputs reads back as the same rule, values are typed
by their field's kind, and problem paths name the rows they came from."""

from __future__ import annotations

from typing import Any

from appliance.automation.conditions import ALL_OPS, FIELDS
from appliance.web.admin.rule_form import condition_value, form_of, input_of, level_paths, level_rows, ops_for, rule_of

RULE: dict[str, Any] = {
    "name": "提醒", "description": "", "priority": 5, "branch_id": None, "enabled": True, "stop_further": False,
    "trigger": {"timer": {"anchor": "starts_at", "offset_minutes": -120}},
    "conditions": {"any": [
        {"field": "customer.tags", "op": "contains", "value": "vip"},
        {"field": "booking.hour", "op": "between", "value": [9, 12]},
        {"field": "customer.is_new", "op": "eq", "value": True},
    ]},
    "actions": [
        {"type": "notify", "channel": "email", "template": "booking_reminder", "recipient": "customer"},
        {"type": "block_resource_window", "resource_kind": "room", "anchor": "ends_at", "offset_minutes": 0, "minutes": 15},
    ],
}


def test_a_rule_shown_as_inputs_reads_back_as_the_same_rule() -> None:
    form = form_of(RULE)

    draft = rule_of(form.values, FIELDS, condition_rows=form.condition_rows, action_rows=form.action_rows)

    assert draft.body == RULE
    assert form.condition_rows == 5 and form.action_rows == 4  # two empty rows to add more


def test_values_are_typed_by_the_kind_of_their_field() -> None:
    assert condition_value("integer", "gte", " 3 ") == 3
    assert condition_value("integer", "gte", "three") == "three"  # left for the check to name
    assert condition_value("string", "in", "web, wechat,") == ["web", "wechat"]
    assert condition_value("string_list", "eq", "a,b") == ["a", "b"]
    assert condition_value("boolean", "eq", "False") is False
    assert condition_value("string", "is_set", "false") is False and condition_value("string", "is_set", "") is True


def test_problem_paths_name_the_rows_the_conditions_and_actions_came_from() -> None:
    values = {"trigger": "event", "trigger-event": "booking.created", "cond-2-field": "booking.status",
              "cond-2-op": "gt", "action-1-type": "add_tag", "action-1-tag": ""}
    draft = rule_of(values, FIELDS, condition_rows=3, action_rows=2)

    assert input_of("conditions.all[0].op", draft) == "cond-2-op"
    assert input_of("conditions.all[0].value[1]", draft) == "cond-2-value"
    assert input_of("actions[0].tag", draft) == "action-1-tag"
    assert input_of("trigger.timer.offset_minutes", draft) == "trigger-offset"
    assert input_of("conditions", draft) is None and input_of("actions[3].type", draft) is None


def test_approval_levels_read_back_and_their_problems_name_the_level_row() -> None:
    rule = {**RULE, "actions": [{"type": "require_approval", "levels": [
        {"approver_role": "manager", "time_limit_minutes": 60},
        {"approvers": ["7f0c4c1e-2f7a-4f43-9c43-1c3a1b9d2e10"], "time_limit_minutes": 30},
    ]}]}
    form = form_of(rule)

    draft = rule_of(form.values, FIELDS, condition_rows=form.condition_rows, action_rows=form.action_rows)

    assert draft.body == rule
    assert level_rows(form.values, 0) == 3  # the two levels and one more
    paths = level_paths({"actions[0].levels": "level 2.time_limit_minutes: a whole number from 5 to 43200",
                         "actions[0].type": "unknown action"})
    assert paths == {"actions[0].levels[1].time_limit_minutes": "a whole number from 5 to 43200", "actions[0].type": "unknown action"}
    assert input_of("actions[0].levels[1].time_limit_minutes", draft) == "action-0-level-1-time_limit_minutes"
    assert input_of(next(iter(level_paths({"actions[0].levels": "level 1: name an approver_role or approvers"}))), draft) \
        == "action-0-level-0-approver_role"
    assert input_of("actions[0].levels", draft) == "action-0-levels"


def test_a_field_offers_only_the_comparisons_its_kind_takes() -> None:
    assert ops_for(FIELDS, "customer.is_new") == ("eq", "ne", "is_set")
    assert "contains" not in ops_for(FIELDS, "booking.seats") and "gt" not in ops_for(FIELDS, "customer.tags")
    assert ops_for(FIELDS, "") == ALL_OPS
