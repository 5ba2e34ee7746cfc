"""What a rule may say: its trigger and its actions, checked with every problem named by path (the
conditions have their own module). Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from uuid import UUID

from appliance.auth.roles import Role
from appliance.bookings.states import TRANSITIONS, PaymentStatus, Status
from appliance.customers.logic import TAG_RULE, normalise_tag
from appliance.notifications.catalogue import notify_problems

# Events after which a booking no longer holds its time: its timers and blocks go.
ENDS_HOLDING: Final = frozenset({"booking.cancelled", "booking.rejected", "booking.no_show"})
BOOKING_EVENTS: Final = frozenset({
    "booking.created", "booking.rescheduled", "booking.reassigned", "booking.payment_status_changed", "survey.answered",
    *(t.event for t in TRANSITIONS.values()),
})
# Rules act on bookings in this release: every trigger is an event about one booking.
EVENTS: Final = BOOKING_EVENTS
CUSTOM_EVENT = re.compile(r"custom\.[a-z0-9_]+(\.[a-z0-9_]+)*")
# Times of a booking a timer can count from.
ANCHORS: Final = ("starts_at", "ends_at", "completed_at", "awaiting_payment_at")
LONGEST_OFFSET_MINUTES: Final = 30 * 1440
CHANNELS: Final = ("email", "inbox", "sms", "wecom", "dingtalk")
RECIPIENTS: Final = ("customer", "assigned_staff", *(f"role:{role.value}" for role in Role))
RESOURCE_KINDS: Final = ("staff", "room", "equipment")
MAX_ACTIONS: Final = 20
MAX_APPROVAL_LEVELS: Final = 5

Check = Callable[[Any], str | None]


def trigger_problems(trigger: object) -> dict[str, str]:
    if not isinstance(trigger, Mapping) or len(trigger) != 1 or next(iter(trigger)) not in ("event", "timer"):
        return {"trigger": 'give {"event": type} or {"timer": {"anchor", "offset_minutes"}}'}
    if "event" in trigger:
        event = trigger["event"]
        if not isinstance(event, str) or not (event in EVENTS or CUSTOM_EVENT.fullmatch(event)):
            return {"trigger.event": f"unknown event; one of: {', '.join(sorted(EVENTS))}, or custom.<name>"}
        return {}
    return _params("trigger.timer", trigger["timer"], {"anchor": _one_of(ANCHORS), "offset_minutes": _offset})


def trigger_kind(trigger: Mapping[str, Any]) -> str:
    """The event type that sets a rule off: its event, or `timer.fired` for timer rules."""
    return str(trigger["event"]) if "event" in trigger else "timer.fired"


def actions_problems(actions: object) -> dict[str, str]:
    if not isinstance(actions, list) or not actions:
        return {"actions": "give at least one action"}
    if len(actions) > MAX_ACTIONS:
        return {"actions": f"at most {MAX_ACTIONS} actions"}
    problems: dict[str, str] = {}
    for index, action in enumerate(actions):
        path = f"actions[{index}]"
        kind = action.get("type") if isinstance(action, Mapping) else None
        if not isinstance(kind, str) or kind not in ACTIONS:
            problems[f"{path}.type"] = f"unknown action; one of: {', '.join(sorted(ACTIONS))}"
            continue
        assert isinstance(action, Mapping)
        if kind not in EXECUTABLE:
            # Refused rather than saved to do nothing: this release cannot run it yet.
            problems[f"{path}.type"] = f"{kind} is not available yet; available: {', '.join(sorted(EXECUTABLE))}"
            continue
        found = _params(path, {k: v for k, v in action.items() if k != "type"}, ACTIONS[kind])
        if kind == "notify" and not found:
            found = _notify_problems(path, action)
        if kind == "block_resource_window" and not found:
            found = _one_resource(path, action)
        problems |= found
    return problems


def _notify_problems(path: str, action: Mapping[str, Any]) -> dict[str, str]:
    """The channel must reach the recipient and the template be one for that audience."""
    found = notify_problems(action["channel"], action["recipient"], action["template"])
    return {f"{path}.{name}": message for name, message in found.items()}


def _one_resource(path: str, action: Mapping[str, Any]) -> dict[str, str]:
    """A block names one resource, or the kind of resource the booking holds ("the booking's room")."""
    if (action.get("resource_id") is None) == (action.get("resource_kind") is None):
        return {f"{path}.resource_id": "give resource_id (a named resource) or resource_kind (the booking's own), one of them"}
    return {}


# --- Parameter checks ----------------------------------------------------------------------------------


def _params(path: str, given: object, spec: Mapping[str, Check]) -> dict[str, str]:
    """Every parameter of `spec` required (a check may accept None for an optional one), no others."""
    if not isinstance(given, Mapping):
        return {path: f"give an object with {', '.join(spec) or 'no parameters'}"}
    problems = {f"{path}.{k}": "unknown parameter" for k in given if k not in spec}
    for name, check in spec.items():
        if (message := check(given.get(name))) is not None:
            problems[f"{path}.{name}"] = message
    return problems


def _one_of(values: tuple[str, ...]) -> Check:
    return lambda v: None if v in values else f"one of: {', '.join(values)}"


def _integer(low: int, high: int) -> Check:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
        return None if ok else f"a whole number from {low} to {high}"

    return check


def _offset(v: Any) -> str | None:
    return _integer(-LONGEST_OFFSET_MINUTES, LONGEST_OFFSET_MINUTES)(v)


def _text(longest: int) -> Check:
    return lambda v: None if isinstance(v, str) and 0 < len(v.strip()) <= longest else f"text of 1–{longest} characters"


def _uuid(v: Any) -> str | None:
    if not isinstance(v, str):
        return "an id"
    try:
        UUID(v)
    except ValueError:
        return "an id"
    return None


def _optional(check: Check) -> Check:
    return lambda v: None if v is None else check(v)


def _tag(v: Any) -> str | None:
    """Any spelling of a tag (it is normalised when the action runs: "VIP" tags vip)."""
    return None if isinstance(v, str) and normalise_tag(v) is not None else TAG_RULE


def _points(v: Any) -> str | None:
    message = _integer(-100_000, 100_000)(v)
    return message or ("must not be 0" if v == 0 else None)


def _levels(value: Any) -> str | None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_APPROVAL_LEVELS:
        return f"a list of 1–{MAX_APPROVAL_LEVELS} levels"
    for number, level in enumerate(value, start=1):
        problems = _params("", level, {
            "approver_role": _optional(_one_of(tuple(r.value for r in Role))),
            "approvers": _optional(_ids),
            "time_limit_minutes": _integer(5, LONGEST_OFFSET_MINUTES),
        })
        if problems:
            where, message = next(iter(problems.items()))
            return f"level {number}{where or ''}: {message}"
        if not level.get("approver_role") and not level.get("approvers"):
            return f"level {number}: name an approver_role or approvers"
    return None


def _ids(value: Any) -> str | None:
    if not isinstance(value, list) or not value or any(_uuid(v) for v in value):
        return "a non-empty list of user ids"
    return None


ACTIONS: Final[Mapping[str, Mapping[str, Check]]] = {
    "notify": {"channel": _one_of(CHANNELS), "template": _text(100), "recipient": _one_of(RECIPIENTS)},
    "auto_approve": {},
    "require_approval": {"levels": _levels},
    "assign_resource": {"resource_id": _uuid, "mode": _one_of(("assign", "prefer"))},
    "set_status": {"status": _one_of(tuple(s.value for s in Status))},
    "set_payment_status": {"payment_status": _one_of(tuple(s.value for s in PaymentStatus))},
    "add_tag": {"tag": _tag},
    "remove_tag": {"tag": _tag},
    "add_points": {"points": _points},
    # The window starts `offset_minutes` from the booking's start or end and lasts `minutes`.
    "block_resource_window": {
        "resource_id": _optional(_uuid), "resource_kind": _optional(_one_of(RESOURCE_KINDS)),
        "anchor": _one_of(("starts_at", "ends_at")), "offset_minutes": _offset, "minutes": _integer(1, 1440),
    },
    "emit_event": {"event": lambda v: None if isinstance(v, str) and CUSTOM_EVENT.fullmatch(v) else "custom.<name>"},
}

# The actions this release runs (automation.engine); the others are described above but refused.
EXECUTABLE: Final = frozenset(
    {
        "auto_approve", "set_status", "set_payment_status", "emit_event", "notify", "require_approval",
        "block_resource_window", "assign_resource", "add_tag", "remove_tag", "add_points",
    }
)
