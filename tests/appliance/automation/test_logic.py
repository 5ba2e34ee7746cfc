"""What a rule's trigger and actions may say: every problem named by path."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.automation.logic import (
    ACTIONS, EXECUTABLE, MAX_ACTIONS, _params, actions_problems, trigger_kind, trigger_problems,
)

GOOD_ACTIONS: list[dict[str, Any]] = [
    {"type": "notify", "channel": "email", "template": "booking_reminder", "recipient": "customer"},
    {"type": "auto_approve"},
    {"type": "require_approval", "levels": [
        {"approver_role": "front_desk", "time_limit_minutes": 60},
        {"approvers": ["9b2f3a52-8a40-4e0c-9a53-0d7f4f7b1c11"], "time_limit_minutes": 120},
    ]},
    {"type": "assign_resource", "resource_id": "9b2f3a52-8a40-4e0c-9a53-0d7f4f7b1c11", "mode": "prefer"},
    {"type": "set_status", "status": "confirmed"},
    {"type": "set_payment_status", "payment_status": "awaiting_payment"},
    {"type": "add_tag", "tag": "VIP"},
    {"type": "remove_tag", "tag": "新客"},
    {"type": "add_points", "points": -50},
    {"type": "block_resource_window", "resource_id": "9b2f3a52-8a40-4e0c-9a53-0d7f4f7b1c11", "anchor": "ends_at",
     "offset_minutes": 0, "minutes": 120},
    {"type": "emit_event", "event": "custom.vip.arrived"},
]


def test_every_kind_of_action_has_a_valid_example_here_and_those_not_runnable_yet_are_refused() -> None:
    assert {a["type"] for a in GOOD_ACTIONS} == set(ACTIONS)
    problems = actions_problems(GOOD_ACTIONS)
    refused = {GOOD_ACTIONS[int(path[len("actions["):].split("]")[0])]["type"] for path in problems}
    assert refused == set(ACTIONS) - EXECUTABLE
    assert all(path.endswith(".type") and "not available yet" in m for path, m in problems.items())
    # Their parameters are still checked, for when they can run.
    for action in GOOD_ACTIONS:
        kind = action["type"]
        assert _params("a", {k: v for k, v in action.items() if k != "type"}, ACTIONS[kind]) == {}


@pytest.mark.parametrize(("action", "path", "message"), [
    ({"type": "auto_approve", "level": 2}, "actions[0].level", "unknown parameter"),
    ({"type": "set_status", "status": "lost"}, "actions[0].status", "one of"),
    ({"type": "set_payment_status", "payment_status": "free"}, "actions[0].payment_status", "one of"),
    ({"type": "emit_event", "event": "booking.created"}, "actions[0].event", "custom.<name>"),
    ({"type": "block_resource_window", "resource_id": "9b2f3a52-8a40-4e0c-9a53-0d7f4f7b1c11", "resource_kind": "room",
      "anchor": "ends_at", "offset_minutes": 0, "minutes": 120}, "actions[0].resource_id", "one of them"),
    ({"type": "block_resource_window", "anchor": "ends_at", "offset_minutes": 0, "minutes": 120},
     "actions[0].resource_id", "one of them"),
    ({"type": "block_resource_window", "resource_kind": "room", "anchor": "completed_at", "offset_minutes": 0,
      "minutes": 2000}, "actions[0].minutes", "1 to 1440"),
    ({"type": "assign_resource", "resource_id": "9b2f3a52-8a40-4e0c-9a53-0d7f4f7b1c11", "mode": "force"},
     "actions[0].mode", "one of"),
    ({"type": "assign_resource", "resource_id": "gold", "mode": "assign"}, "actions[0].resource_id", "id"),
    ({"type": "notify", "channel": "inbox", "template": "staff_booking_notice", "recipient": "customer"},
     "actions[0].channel", "inbox does not reach customer"),
    ({"type": "notify", "channel": "email", "template": "booking_reminder", "recipient": "role:manager"},
     "actions[0].channel", "email does not reach role:manager"),
    ({"type": "notify", "channel": "inbox", "template": "booking_reminder", "recipient": "assigned_staff"},
     "actions[0].template", "no such template for staff"),
    ({"type": "notify", "channel": "email", "template": "birthday_card", "recipient": "customer"},
     "actions[0].template", "no such template"),
    ({"type": "teleport"}, "actions[0].type", "unknown action"),
    ("approve", "actions[0].type", "unknown action"),
])
def test_a_bad_action_is_named_by_its_path(action: object, path: str, message: str) -> None:
    problems = actions_problems([action])
    assert path in problems and message in problems[path], problems


def test_actions_must_be_a_short_non_empty_list_and_all_problems_come_at_once() -> None:
    assert actions_problems([]) == {"actions": "give at least one action"}
    assert "at most" in actions_problems([{"type": "auto_approve"}] * (MAX_ACTIONS + 1))["actions"]
    both = actions_problems([{"type": "set_status"}, {"type": "emit_event", "event": "custom.x", "colour": "red"}])
    assert set(both) == {"actions[0].status", "actions[1].colour"}


def test_triggers_are_a_known_event_or_a_timer_relative_to_a_booking_time() -> None:
    assert trigger_problems({"event": "booking.completed"}) == {}
    assert trigger_problems({"event": "custom.vip.arrived"}) == {}
    assert trigger_problems({"timer": {"anchor": "starts_at", "offset_minutes": -1440}}) == {}
    assert "trigger.event" in trigger_problems({"event": "booking.exploded"})
    assert set(trigger_problems({"timer": {"anchor": "birthday", "offset_minutes": 10**9}})) == {
        "trigger.timer.anchor", "trigger.timer.offset_minutes",
    }
    assert "trigger" in trigger_problems({"event": "booking.created", "timer": {}})
    assert "trigger" in trigger_problems("booking.created")
    assert trigger_kind({"event": "booking.created"}) == "booking.created"
    assert trigger_kind({"timer": {"anchor": "ends_at", "offset_minutes": 120}}) == "timer.fired"


@pytest.mark.parametrize(("kind", "params", "name", "message"), [
    ("notify", {"channel": "fax", "template": "x", "recipient": "customer"}, "channel", "one of"),
    ("notify", {"channel": "email", "template": " ", "recipient": "customer"}, "template", "text"),
    ("notify", {"channel": "email", "template": "x", "recipient": "role:king"}, "recipient", "one of"),
    ("require_approval", {"levels": []}, "levels", "1–5 levels"),
    ("require_approval", {"levels": [{"time_limit_minutes": 60}]}, "levels", "name an approver"),
    ("require_approval", {"levels": [{"approver_role": "manager", "time_limit_minutes": 1}]}, "levels", "level 1"),
    ("assign_resource", {"resource_id": "gold", "mode": "assign"}, "resource_id", "an id"),
    ("add_points", {"points": 0}, "points", "must not be 0"),
    ("add_points", {"points": True}, "points", "whole number"),
])
def test_parameters_of_actions_not_runnable_yet_are_checked_too(kind: str, params: dict[str, Any], name: str, message: str) -> None:
    problems = _params("a", params, ACTIONS[kind])
    assert message in problems[f"a.{name}"], problems
