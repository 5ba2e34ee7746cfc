"""The rules builder's form, both ways: a rule as rows of inputs, and typed inputs as the rule's JSON, with
the actions' problem paths (`conditions.all[1].value`) turned into the names of the inputs they are about.

Pure: no I/O. It only shapes; trigger, conditions and actions are checked by the automation package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from appliance.automation import logic
from appliance.automation.conditions import ALL_OPS, OPS, Field, Kind, Op
from appliance.bookings.states import PaymentStatus, Status
from appliance.notifications.catalogue import KEYS

EXTRA_ROWS: Final = 2  # empty rows under the conditions and actions a rule has, to add more
MIN_CONDITION_ROWS: Final = 3
MIN_ACTION_ROWS: Final = 2
LIST_OPS: Final = ("in", "not_in", "between")
LEVEL_PARTS: Final = ("approver_role", "approvers", "time_limit_minutes")  # inputs of one approval level
MIN_LEVEL_ROWS: Final = 2


def ops_for(fields: Mapping[str, Field], name: str) -> tuple[Op, ...]:
    """The comparisons the field's kind takes (conditions.OPS); every one while no known field is chosen."""
    return OPS[fields[name].kind] if name in fields else ALL_OPS


@dataclass(frozen=True)
class Param:
    """How one action parameter is typed in: a choice, a whole number, approval levels as rows, or text."""

    name: str
    input: str  # select | integer | levels | text
    choices: tuple[str, ...] = ()
    optional: bool = False


_CHOICES: Final[Mapping[str, tuple[str, ...]]] = {
    "channel": logic.CHANNELS, "recipient": logic.RECIPIENTS, "template": tuple(sorted(KEYS)),
    "mode": ("assign", "prefer"), "status": tuple(s.value for s in Status),
    "payment_status": tuple(s.value for s in PaymentStatus), "resource_kind": logic.RESOURCE_KINDS,
    "anchor": ("starts_at", "ends_at"),
}
_INTEGERS: Final = frozenset({"points", "offset_minutes", "minutes"})
_OPTIONAL: Final[Mapping[str, frozenset[str]]] = {"block_resource_window": frozenset({"resource_id", "resource_kind"})}


def action_params(kind: str) -> list[Param]:
    """The inputs of one action type, in the order the automation package lists its parameters."""
    params = []
    for name in logic.ACTIONS.get(kind, {}):
        optional = name in _OPTIONAL.get(kind, frozenset())
        if name in _CHOICES:
            params.append(Param(name, "select", _CHOICES[name], optional))
        elif name in _INTEGERS:
            params.append(Param(name, "integer", optional=optional))
        elif name == "levels":
            params.append(Param(name, "levels", optional=optional))
        else:
            params.append(Param(name, "text", optional=optional))
    return params


def level_name(row: int, level: int, part: str) -> str:
    """The input of one part of an approval level: `action-<row>-level-<level>-<part>`."""
    return f"action-{row}-level-{level}-{part}"


def level_rows(values: Mapping[str, str], row: int) -> int:
    """How many approval levels the action row shows: the filled ones and one more, within the allowed count."""
    filled = [i for i in range(logic.MAX_APPROVAL_LEVELS) if any(values.get(level_name(row, i, p)) for p in LEVEL_PARTS)]
    return min(max((filled[-1] + 2) if filled else 0, MIN_LEVEL_ROWS), logic.MAX_APPROVAL_LEVELS)


ACTION_TYPES: Final = tuple(sorted(logic.EXECUTABLE))


@dataclass
class RuleForm:
    """The builder's inputs by name (as typed), and how many condition and action rows it shows."""

    values: dict[str, str]
    condition_rows: int
    action_rows: int
    nested_conditions: str | None = None  # conditions the rows cannot show (nested groups), kept as JSON
    errors: dict[str, str] = field(default_factory=dict)  # input name -> message
    problems: list[str] = field(default_factory=list)  # messages about no one input


# --- A rule as inputs ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _flat_leaves(conditions: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]] | None:
    """(all|any, leaves) when the condition is one group of leaves; None when it nests."""
    for group in ("all", "any"):
        members = conditions.get(group)
        if isinstance(members, list) and len(conditions) == 1 and all(isinstance(m, Mapping) and "field" in m for m in members):
            return group, list(members)
    return None


def form_of(rule: Mapping[str, Any]) -> RuleForm:
    """The inputs showing a rule as the API holds it (a new rule: a few defaults)."""
    values: dict[str, str] = {
        "name": rule.get("name", ""), "description": rule.get("description", ""),
        "priority": _text(rule.get("priority", 100)), "branch_id": _text(rule.get("branch_id")),
        "enabled": _text(rule.get("enabled", True)), "stop_further": _text(rule.get("stop_further", False)),
    }
    trigger = rule.get("trigger") or {"event": "booking.created"}
    if "timer" in trigger:
        values |= {"trigger": "timer", "trigger-anchor": _text(trigger["timer"].get("anchor")),
                   "trigger-offset": _text(trigger["timer"].get("offset_minutes"))}
    else:
        values |= {"trigger": "event", "trigger-event": _text(trigger.get("event"))}
    flat = _flat_leaves(rule.get("conditions") or {"all": []})
    nested = None
    leaves: list[Mapping[str, Any]] = []
    if flat is None:
        nested = json.dumps(rule.get("conditions"), ensure_ascii=False)
    else:
        values["group"], leaves = flat
    for row, leaf in enumerate(leaves):
        values |= {f"cond-{row}-field": _text(leaf.get("field")), f"cond-{row}-op": _text(leaf.get("op")),
                   f"cond-{row}-value": _text(leaf.get("value")) if "value" in leaf else ""}
    actions = rule.get("actions") or []
    for row, action in enumerate(actions):
        values[f"action-{row}-type"] = _text(action.get("type"))
        for name, value in action.items():
            if name == "levels" and isinstance(value, list):
                for level, given in enumerate(value):
                    values |= {level_name(row, level, part): _text(given.get(part)) for part in LEVEL_PARTS}
            elif name != "type":
                values[f"action-{row}-{name}"] = _text(value)
    return RuleForm(
        values=values, condition_rows=max(len(leaves) + EXTRA_ROWS, MIN_CONDITION_ROWS),
        action_rows=max(len(actions) + EXTRA_ROWS, MIN_ACTION_ROWS), nested_conditions=nested,
    )


# --- Inputs as a rule ----------------------------------------------------------------------------------


def _scalar(kind: Kind | None, text: str) -> Any:
    """A typed value in the field's kind; left as text when it is not one (the check then says so)."""
    if kind == "integer" and re.fullmatch(r"-?\d+", text):
        return int(text)
    if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text) if "." in text else int(text)
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def condition_value(kind: Kind | None, op: str, text: str) -> Any:
    """What a value input means for this field and op: lists are comma-separated; is_set is true/false."""
    text = text.strip()
    if op == "is_set":
        return text.lower() != "false"
    if op in LIST_OPS or (kind == "string_list" and op in ("eq", "ne")):
        return [_scalar(kind, part.strip()) for part in text.split(",") if part.strip()]
    return _scalar(kind, text)


def _param_value(param: Param, text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if param.input == "integer" and re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _levels(form: Mapping[str, str], row: int) -> tuple[list[dict[str, Any]], list[int]]:
    """The approval levels typed into an action row (blank rows left out), and the row of each."""
    levels, used = [], []
    for number in range(logic.MAX_APPROVAL_LEVELS):
        role, approvers, minutes = (form.get(level_name(row, number, part), "").strip() for part in LEVEL_PARTS)
        if not (role or approvers or minutes):
            continue
        level: dict[str, Any] = {"time_limit_minutes": int(minutes) if re.fullmatch(r"\d+", minutes) else minutes or None}
        if role:
            level["approver_role"] = role
        if approvers:
            level["approvers"] = [a.strip() for a in approvers.split(",") if a.strip()]
        levels.append(level)
        used.append(number)
    return levels, used

@dataclass(frozen=True)
class Draft:
    """The rule's JSON body, and which form row each condition and action came from."""

    body: dict[str, Any]
    condition_rows: list[int]
    action_rows: list[int]
    level_rows: dict[int, list[int]] = field(default_factory=dict)  # action form row -> its levels' rows


def rule_of(form: Mapping[str, str], fields: Mapping[str, Field], *, condition_rows: int, action_rows: int,
            nested_conditions: str | None = None) -> Draft:
    """The rule the inputs describe (rows without a field or an action type are left out)."""
    def given(name: str) -> str:
        return form.get(name, "").strip()

    if given("trigger") == "timer":
        offset = given("trigger-offset")
        trigger: dict[str, Any] = {"timer": {
            "anchor": given("trigger-anchor"),
            "offset_minutes": int(offset) if re.fullmatch(r"-?\d+", offset) else offset,
        }}
    else:
        trigger = {"event": given("trigger-event")}

    leaves, used_conditions = [], []
    for row in range(condition_rows):
        name, op = given(f"cond-{row}-field"), given(f"cond-{row}-op")
        if not name:
            continue
        kind = fields[name].kind if name in fields else None
        leaf: dict[str, Any] = {"field": name, "op": op}
        value = given(f"cond-{row}-value")
        if op != "is_set" or value:
            leaf["value"] = condition_value(kind, op, value)
        leaves.append(leaf)
        used_conditions.append(row)
    conditions: Any = {given("group") if given("group") in ("all", "any") else "all": leaves}
    if nested_conditions is not None and not leaves:
        conditions = json.loads(nested_conditions)

    actions, used_actions = [], []
    used_levels: dict[int, list[int]] = {}
    for row in range(action_rows):
        action_type = given(f"action-{row}-type")
        if not action_type:
            continue
        action: dict[str, Any] = {"type": action_type}
        for param in action_params(action_type):
            if param.input == "levels":
                action[param.name], used_levels[row] = _levels(form, row)
                continue
            value = _param_value(param, form.get(f"action-{row}-{param.name}", ""))
            if value is not None or not param.optional:
                action[param.name] = value
        actions.append(action)
        used_actions.append(row)

    priority = given("priority")
    body = {
        "name": given("name"), "description": given("description"),
        "priority": int(priority) if re.fullmatch(r"\d+", priority) else priority,
        "enabled": form.get("enabled") in ("true", "on"), "stop_further": form.get("stop_further") in ("true", "on"),
        "trigger": trigger, "conditions": conditions, "actions": actions,
        "branch_id": given("branch_id") or None,
    }
    return Draft(body=body, condition_rows=used_conditions, action_rows=used_actions, level_rows=used_levels)


_ROW_PATH = re.compile(r"^(conditions\.(?:all|any)|actions)\[(\d+)\](?:\.(\w+))?(?:\[(\d+)\]\.(\w+))?")
_LEVEL_MESSAGE = re.compile(r"^level (\d+)(?:\.(\w+))?: (.+)$")


def level_paths(fields: Mapping[str, str]) -> dict[str, str]:
    """The automation package says which approval level is wrong inside the message (`actions[0].levels`:
    "level 2.time_limit_minutes: ..."): that as a path of its own (`actions[0].levels[1].time_limit_minutes`),
    so it is shown at its input. A level naming no approver is about its role input."""
    paths: dict[str, str] = {}
    for path, message in fields.items():
        found = _LEVEL_MESSAGE.match(message) if path.endswith(".levels") else None
        if found is None:
            paths[path] = message
            continue
        part = found.group(2) if found.group(2) in LEVEL_PARTS else "approver_role"
        paths[f"{path}[{int(found.group(1)) - 1}].{part}"] = found.group(3)
    return paths
_TRIGGER_INPUTS: Final = {
    "trigger": "trigger-event", "trigger.event": "trigger-event", "trigger.timer": "trigger-anchor",
    "trigger.timer.anchor": "trigger-anchor", "trigger.timer.offset_minutes": "trigger-offset",
}


def input_of(path: str, draft: Draft) -> str | None:
    """The input a problem path is about (`conditions.all[1].value` → `cond-3-value` when the second
    condition came from row 3); None when it names no single input."""
    if path in _TRIGGER_INPUTS:
        return _TRIGGER_INPUTS[path]
    if path in ("name", "description", "priority", "branch_id"):
        return path
    match = _ROW_PATH.match(path)
    if match is None:
        return None
    where, index, part = match.group(1), int(match.group(2)), match.group(3)
    if where == "actions":
        if index >= len(draft.action_rows):
            return None
        row = draft.action_rows[index]
        typed_levels = draft.level_rows.get(row, [])
        if part == "levels" and match.group(4) is not None and int(match.group(4)) < len(typed_levels):
            return level_name(row, typed_levels[int(match.group(4))], match.group(5))
        return f"action-{row}-{part or 'type'}"
    if index >= len(draft.condition_rows):
        return None
    return f"cond-{draft.condition_rows[index]}-{part if part in ('field', 'op', 'value') else 'field'}"
