"""Forms' rules, pure (no I/O): whether a definition may be saved, and checking answers against one.

Answers are checked field by field in the definition's order. A field whose `visible_if` does not hold
(or whose controlling field is itself hidden) is not asked: it is not required and any answer given
for it is dropped. An answer for a key the form does not have is an error. Accepted answers come back
normalised: text trimmed, phones in E.164, e-mails lower-cased, multi-select choices in option order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from appliance.customers.logic import normalise_email, normalise_phone
from appliance.forms.messages import AnswerError
from appliance.forms.patterns import MAX_MATCHED, matches, pattern_problem
from appliance.forms.schemas import FieldDef, FieldType, VisibleIf

Answer = str | int | float | bool | list[str]

TEXT_TYPES: Final = frozenset({"text", "long_text"})
SELECT_TYPES: Final = frozenset({"single_select", "multi_select"})
MAX_LENGTH: Final[Mapping[str, int]] = {"text": 200, "long_text": 5000, "phone": 32, "email": 254}
# A number beyond this loses integer precision in JSON and is never a sensible answer.
NUMBER_LIMIT: Final = 1e15

ConditionKind = Literal["string", "number", "boolean", "string_list"]
CONDITION_KINDS: Final[Mapping[FieldType, ConditionKind]] = {
    "text": "string", "long_text": "string", "phone": "string", "email": "string", "single_select": "string",
    "date": "string", "number": "number", "checkbox": "boolean", "multi_select": "string_list",
}
"""How rule conditions see each type of answer (`answers.<key>`); dates are YYYY-MM-DD text."""


# --- Checking a definition -------------------------------------------------------------------------


def definition_problems(fields: Sequence[FieldDef], path: str = "fields") -> dict[str, str]:
    """Path (`fields[2].max`) -> message for everything wrong with a form's fields, all at once."""
    problems: dict[str, str] = {}
    earlier: dict[str, FieldDef] = {}
    for index, item in enumerate(fields):
        at = f"{path}[{index}]"
        if item.key in earlier:
            problems[f"{at}.key"] = f"{item.key} is used by an earlier field"
        if not (item.label.zh_cn.strip() or item.label.en.strip()):
            problems[f"{at}.label"] = "give a label in zh-CN or en"
        problems.update({f"{at}.{name}": message for name, message in _field_problems(item).items()})
        if item.visible_if is not None:
            problems.update({f"{at}.visible_if.{k}": v for k, v in _visible_if_problems(item.visible_if, earlier).items()})
        earlier.setdefault(item.key, item)
    return problems


def _field_problems(item: FieldDef) -> dict[str, str]:
    problems: dict[str, str] = {}
    kind = item.type
    if kind in SELECT_TYPES:
        if not item.options:
            problems["options"] = "give at least one option"
        values = [o.value for o in item.options]
        if len(set(values)) != len(values):
            problems["options"] = "option values must differ"
        for i, option in enumerate(item.options):
            if not (option.label.zh_cn.strip() or option.label.en.strip()):
                problems[f"options[{i}].label"] = "give a label in zh-CN or en"
    elif item.options:
        problems["options"] = f"a {kind} field has no options"
    if kind in TEXT_TYPES:
        cap = MAX_LENGTH[kind] if item.pattern is None else MAX_MATCHED
        low, high = item.min_length or 0, item.max_length or cap
        if high > cap:
            problems["max_length"] = f"at most {cap}" + (" for a field with a pattern" if item.pattern else "")
        elif low > high:
            problems["min_length"] = "must not exceed max_length"
    else:
        for name in ("min_length", "max_length"):
            if getattr(item, name) is not None:
                problems[name] = f"a {kind} field has no {name}; only text fields do"
    if item.pattern is not None:
        if kind != "text":
            problems["pattern"] = "only a text field takes a pattern"
        elif problem := pattern_problem(item.pattern):
            problems["pattern"] = problem
    elif item.pattern_message is not None:
        problems["pattern_message"] = "give it only with a pattern"
    problems.update(_bound_problems(item))
    return problems


def _bound_problems(item: FieldDef) -> dict[str, str]:
    if item.min is None and item.max is None:
        return {}
    bounds: tuple[float | date | int | None, float | date | int | None]
    match item.type:
        case "number":
            bounds, what = (_number(item.min), _number(item.max)), "a number"
        case "date":
            bounds, what = (_day(item.min), _day(item.max)), "a date such as 2026-06-01"
        case "multi_select":
            bounds, what = (_count(item.min), _count(item.max)), "a whole number of options, 0 or more"
        case _:
            return {name: f"a {item.type} field has no {name}" for name in ("min", "max") if getattr(item, name) is not None}
    problems = {
        name: f"must be {what}" for name, raw, value in (("min", item.min, bounds[0]), ("max", item.max, bounds[1]))
        if raw is not None and value is None
    }
    low, high = bounds
    if not problems and low is not None and high is not None and low > high:  # type: ignore[operator]
        problems["min"] = "must not exceed max"
    return problems


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and abs(value) <= NUMBER_LIMIT else None


def _day(value: object) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _visible_if_problems(rule: VisibleIf, earlier: Mapping[str, FieldDef]) -> dict[str, str]:
    controller = earlier.get(rule.field)
    if controller is None:
        return {"field": "must name an earlier field of this form"}
    if rule.op == "is_set":
        return {} if rule.value is None or isinstance(rule.value, bool) else {"value": "is_set takes true or false"}
    if rule.op in ("in", "not_in") and (not isinstance(rule.value, list) or not rule.value):
        return {"value": f"{rule.op} needs a list of values"}
    for value in _rule_values(rule):
        if _clean(_compared_as(controller), value, relaxed=True)[1] is not None:
            return {"value": f"{value!r} is not a possible answer to {controller.key}"}
    return {}


def _rule_values(rule: VisibleIf) -> list[object]:
    return list(rule.value) if rule.op in ("in", "not_in") else [rule.value]


def _compared_as(controller: FieldDef) -> FieldDef:
    """A multi select is compared choice by choice: a rule's value is one of its options."""
    if controller.type != "multi_select":
        return controller
    return FieldDef(key=controller.key, type="single_select", label=controller.label, options=controller.options)


def expected_answers(rule: VisibleIf, controller: FieldDef) -> list[Answer]:
    """A (checked) rule's values normalised like answers, so " +86 138…" meets "+86138…"."""
    single = _compared_as(controller)
    return [value for raw in _rule_values(rule) if (value := _clean(single, raw, relaxed=True)[0]) is not None]


# --- Checking answers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """Answers as they will be stored (visible, non-empty, normalised), and the problems by field key."""

    answers: dict[str, Answer]
    errors: dict[str, AnswerError]


def check_answers(fields: Sequence[FieldDef], given: Mapping[str, object]) -> Checked:
    """Only for fields `definition_problems` finds nothing wrong with."""
    by_key = {item.key: item for item in fields}
    answers: dict[str, Answer] = {}
    errors: dict[str, AnswerError] = {}
    asked: set[str] = set()
    for item in fields:
        rule = item.visible_if
        if rule is not None and not (
            rule.field in asked
            and visible_if_holds(rule, answers.get(rule.field), expected_answers(rule, by_key[rule.field]))
        ):
            continue  # not asked: not required, and an answer given anyway is dropped
        asked.add(item.key)
        raw = given.get(item.key)
        if _empty(raw):
            if item.required:
                errors[item.key] = AnswerError("required")
            continue
        value, error = _clean(item, raw)
        if error is not None:
            errors[item.key] = error
        elif value is not None:
            answers[item.key] = value
    for key in given:
        if key not in by_key:
            errors[key] = AnswerError("not_a_question")
    return Checked(answers, errors)


def _empty(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list) and not raw)


def visible_if_holds(rule: VisibleIf, actual: Answer | None, expected: Sequence[Answer]) -> bool:
    """Whether the rule holds for the controlling field's accepted answer (None: not answered, or its
    answer was refused); only ne, not_in and is_set false hold for no answer. `expected` are the rule's
    values normalised (`expected_answers`). A multi select equals a value when that option is chosen."""
    if rule.op == "is_set":
        return (actual is not None) is (rule.value is not False)
    if actual is None:
        return rule.op in ("ne", "not_in")
    chosen = actual if isinstance(actual, list) else [actual]
    hit = any(_same(a, e) for a in chosen for e in expected)
    return hit if rule.op in ("eq", "in") else not hit


def _same(actual: object, expected: object) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected  # true == 1 in Python, but a checkbox is not a number
    return actual == expected


def _clean(item: FieldDef, raw: object, *, relaxed: bool = False) -> tuple[Answer | None, AnswerError | None]:
    """The normalised answer or its problem. `relaxed` skips the bounds (visible_if values are checked
    only for being a possible kind of answer)."""
    match item.type:
        case "text" | "long_text":
            return _text(item, raw, relaxed)
        case "number":
            return _number_answer(item, raw, relaxed)
        case "date":
            return _date_answer(item, raw, relaxed)
        case "single_select":
            if not isinstance(raw, str) or raw not in {o.value for o in item.options}:
                return None, AnswerError("not_an_option")
            return raw, None
        case "multi_select":
            return _choices(item, raw, relaxed)
        case "checkbox":
            return (raw, None) if isinstance(raw, bool) else (None, AnswerError("not_a_boolean"))
        case "phone":
            phone = normalise_phone(raw) if isinstance(raw, str) and len(raw) <= MAX_LENGTH["phone"] else None
            return (phone, None) if phone else (None, AnswerError("not_a_phone"))
        case "email":
            email = normalise_email(raw) if isinstance(raw, str) else None
            return (email, None) if email else (None, AnswerError("not_an_email"))
    raise ValueError(f"unknown field type {item.type}")


def _text(item: FieldDef, raw: object, relaxed: bool) -> tuple[Answer | None, AnswerError | None]:
    if not isinstance(raw, str):
        return None, AnswerError("not_text")
    value = raw.strip()
    if relaxed:
        return value, None
    if item.type == "text" and ("\n" in value or "\r" in value):
        return None, AnswerError("one_line")
    cap = item.max_length or (MAX_LENGTH[item.type] if item.pattern is None else MAX_MATCHED)
    if len(value) > cap:
        return None, AnswerError("too_long", {"max": cap})
    if item.min_length and len(value) < item.min_length:
        return None, AnswerError("too_short", {"min": item.min_length})
    if item.pattern is not None and not matches(item.pattern, value):
        return None, AnswerError("wrong_format", custom=item.pattern_message)
    return value, None


def _number_answer(item: FieldDef, raw: object, relaxed: bool) -> tuple[Answer | None, AnswerError | None]:
    value = _number(raw)
    if value is None:
        return None, AnswerError("not_a_number")
    assert isinstance(raw, int | float)
    if not relaxed:
        if (low := _number(item.min)) is not None and value < low:
            return None, AnswerError("below_min", {"min": item.min})
        if (high := _number(item.max)) is not None and value > high:
            return None, AnswerError("above_max", {"max": item.max})
    return raw, None


def _date_answer(item: FieldDef, raw: object, relaxed: bool) -> tuple[Answer | None, AnswerError | None]:
    day = _day(raw)
    if day is None:
        return None, AnswerError("not_a_date")
    if not relaxed:
        if (low := _day(item.min)) is not None and day < low:
            return None, AnswerError("too_early", {"min": item.min})
        if (high := _day(item.max)) is not None and day > high:
            return None, AnswerError("too_late", {"max": item.max})
    return day.isoformat(), None


def _choices(item: FieldDef, raw: object, relaxed: bool) -> tuple[Answer | None, AnswerError | None]:
    if not isinstance(raw, list) or not all(isinstance(choice, str) for choice in raw):
        return None, AnswerError("not_a_list")
    order = [o.value for o in item.options]
    if any(choice not in order for choice in raw):
        return None, AnswerError("not_an_option")
    if len(set(raw)) != len(raw):
        return None, AnswerError("repeated_option")
    if not relaxed:
        if (low := _count(item.min)) is not None and len(raw) < low:
            return None, AnswerError("too_few_options", {"min": low})
        if (high := _count(item.max)) is not None and len(raw) > high:
            return None, AnswerError("too_many_options", {"max": high})
    return [value for value in order if value in raw], None
