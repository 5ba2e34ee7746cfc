"""Rule conditions: the field catalogue, every op on every kind it takes, groups, facts that are not set,
the dry-run explanation, every problem `problems` reports, and property tests of the group logic."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from appliance.automation.conditions import (
    FIELDS,
    MAX_DEPTH,
    MAX_LEAVES,
    OPS,
    Field,
    with_answers,
    LeafResult,
    evaluate,
    problems,
)

STARTS_AT = Field("booking.starts_at", "datetime", "When the booking starts.")
WITH_DATETIME: Mapping[str, Field] = {**with_answers({"age": "number"}), STARTS_AT.name: STARTS_AT}
"""The catalogue has no datetime field yet; the kind is tested through one of our own. Numbers come from
booking-form answers (`answers.age`, a number question)."""


def leaf(field: str, op: str, *value: Any) -> dict[str, Any]:
    """A leaf condition; no value given leaves the key out."""
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


def held(condition: Mapping[str, Any], facts: Mapping[str, Any], fields: Mapping[str, Field] = FIELDS) -> bool:
    assert problems(condition, fields) == {}, "tests evaluate only conditions that can be saved"
    return evaluate(condition, facts, fields).held


# --- The catalogue ---------------------------------------------------------------------------------


def test_the_catalogue_names_every_field_with_its_kind() -> None:
    assert {name: item.kind for name, item in FIELDS.items()} == {
        "booking.status": "string",
        "booking.channel": "string",
        "booking.seats": "integer",
        "booking.price_amount": "integer",
        "booking.payment_status": "string",
        "booking.weekday": "string",
        "booking.hour": "integer",
        "booking.lead_minutes": "integer",
        "booking.resource_ids": "string_list",
        "customer.tier": "string",
        "customer.benefits": "string_list",
        "customer.tags": "string_list",
        "customer.segments": "string_list",
        "customer.points": "integer",
        "customer.visit_count": "integer",
        "customer.is_new": "boolean",
        "service.id": "string",
        "service.name": "string",
        "service.requires_approval": "boolean",
        "branch.id": "string",
        "resource.names": "string_list",
        "event.type": "string",
    }


def test_every_field_is_keyed_by_its_name_and_described() -> None:
    for name, item in FIELDS.items():
        assert item.name == name
        assert len(item.description) > 20 and item.description.endswith("."), name


def test_fields_with_a_fixed_vocabulary_list_it() -> None:
    vocabularies = {name: item.values for name, item in FIELDS.items() if item.values is not None}

    assert vocabularies == {
        "booking.status": (
            "pending_approval", "confirmed", "checked_in", "completed", "cancelled", "no_show", "rejected",
        ),
        "booking.channel": vocabularies["booking.channel"],
        "booking.payment_status": ("unpaid", "awaiting_payment", "paid", "refunded"),
        "booking.weekday": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
    }
    assert sorted(vocabularies["booking.channel"] or ()) == ["admin", "api", "phone", "walk_in", "web", "wechat"]


def test_the_catalogue_cannot_be_changed_by_a_caller() -> None:
    with pytest.raises(TypeError):
        FIELDS["customer.mood"] = Field("customer.mood", "string", "Made up.")  # type: ignore[index]


# --- Every op on every kind ------------------------------------------------------------------------

CASES: list[tuple[str, str, Any, Any, bool]] = [
    # string
    ("customer.tier", "eq", "vip", "vip", True),
    ("customer.tier", "eq", "vip", "gold", False),
    ("customer.tier", "ne", "vip", "gold", True),
    ("customer.tier", "ne", "vip", "vip", False),
    ("booking.channel", "in", ["web", "wechat"], "wechat", True),
    ("booking.channel", "in", ["web", "wechat"], "phone", False),
    ("booking.channel", "not_in", ["web", "wechat"], "walk_in", True),
    ("booking.channel", "not_in", ["web", "wechat"], "web", False),
    ("service.name", "contains", "Cut", "Men's Cut & Wash", True),
    ("service.name", "contains", "cut", "Men's Cut & Wash", False),  # case matters
    ("customer.tier", "is_set", True, "vip", True),
    ("customer.tier", "is_set", False, "vip", False),
    ("customer.tier", "is_set", True, "", False),
    ("customer.tier", "is_set", False, "", True),
    # integer
    ("booking.seats", "eq", 2, 2, True),
    ("booking.seats", "eq", 2, 3, False),
    ("booking.seats", "ne", 2, 3, True),
    ("booking.seats", "ne", 2, 2, False),
    ("booking.hour", "in", [9, 10, 11], 10, True),
    ("booking.hour", "in", [9, 10, 11], 12, False),
    ("booking.hour", "not_in", [9, 10, 11], 12, True),
    ("booking.hour", "not_in", [9, 10, 11], 9, False),
    ("customer.points", "gt", 100, 101, True),
    ("customer.points", "gt", 100, 100, False),
    ("customer.points", "gte", 100, 100, True),
    ("customer.points", "gte", 100, 99, False),
    ("booking.lead_minutes", "lt", 60, 59, True),
    ("booking.lead_minutes", "lt", 60, 60, False),
    ("booking.lead_minutes", "lte", 60, 60, True),
    ("booking.lead_minutes", "lte", 60, 61, False),
    ("booking.price_amount", "between", [10000, 20000], 10000, True),  # both bounds included
    ("booking.price_amount", "between", [10000, 20000], 20000, True),
    ("booking.price_amount", "between", [10000, 20000], 9999, False),
    ("booking.price_amount", "between", [10000, 20000], 20001, False),
    ("booking.price_amount", "between", [-5, -5], -5, True),
    ("customer.visit_count", "is_set", True, 0, True),  # zero is a value, not the absence of one
    ("customer.visit_count", "is_set", False, 0, False),
    # number (a form's number question: whole or decimal)
    ("answers.age", "eq", 30, 30.0, True),
    ("answers.age", "eq", 30, 30.5, False),
    ("answers.age", "ne", 30, 30.5, True),
    ("answers.age", "ne", 30.5, 30.5, False),
    ("answers.age", "in", [17.5, 18], 17.5, True),
    ("answers.age", "in", [17.5, 18], 19, False),
    ("answers.age", "not_in", [17.5, 18], 19, True),
    ("answers.age", "not_in", [17.5, 18], 18, False),
    ("answers.age", "gt", 17.5, 18, True),
    ("answers.age", "gt", 17.5, 17.5, False),
    ("answers.age", "gte", 17.5, 17.5, True),
    ("answers.age", "gte", 17.5, 17, False),
    ("answers.age", "lt", 18, 17.9, True),
    ("answers.age", "lt", 18, 18, False),
    ("answers.age", "lte", 18, 18.0, True),
    ("answers.age", "lte", 18, 18.1, False),
    ("answers.age", "between", [1.5, 2], 1.5, True),
    ("answers.age", "between", [1.5, 2], 2.01, False),
    ("answers.age", "is_set", True, 0, True),
    ("answers.age", "is_set", False, 0.0, False),
    # boolean
    ("customer.is_new", "eq", True, True, True),
    ("customer.is_new", "eq", True, False, False),
    ("service.requires_approval", "ne", True, False, True),
    ("service.requires_approval", "ne", False, False, False),
    ("customer.is_new", "is_set", True, False, True),  # false is a value too
    ("customer.is_new", "is_set", False, False, False),
    # string_list
    ("customer.tags", "contains", "vip", ["regular", "vip"], True),
    ("customer.tags", "contains", "vip", ["regular", "vip-candidate"], False),  # membership, not substring
    ("resource.names", "in", ["Li Na", "Wang Fang"], ["Zhao Lei", "Wang Fang"], True),  # any overlap
    ("resource.names", "in", ["Li Na", "Wang Fang"], ["Zhao Lei"], False),
    ("resource.names", "in", ["Li Na"], [], False),
    ("booking.resource_ids", "not_in", ["r1", "r2"], ["r3"], True),  # no overlap
    ("booking.resource_ids", "not_in", ["r1", "r2"], ["r3", "r2"], False),
    ("booking.resource_ids", "not_in", ["r1"], [], True),
    ("customer.tags", "eq", ["vip", "regular"], ["regular", "vip"], True),  # order does not matter
    ("customer.tags", "eq", ["vip"], ["regular", "vip"], False),
    ("customer.tags", "eq", [], [], True),
    ("customer.tags", "ne", ["vip"], ["regular", "vip"], True),
    ("customer.tags", "ne", ["vip", "regular"], ("regular", "vip"), False),
    ("customer.tags", "is_set", True, ["vip"], True),
    ("customer.tags", "is_set", True, [], False),  # no tags means no tags set
    ("customer.tags", "is_set", False, [], True),
    # datetime: offsets differ, instants compare
    ("booking.starts_at", "eq", "2026-06-01T10:00:00+08:00", "2026-06-01T02:00:00+00:00", True),
    ("booking.starts_at", "eq", "2026-06-01T10:00:00+08:00", "2026-06-01T10:00:00+00:00", False),
    ("booking.starts_at", "eq", "2026-06-01T10:00:00+08:00", datetime(2026, 6, 1, 2, tzinfo=UTC), True),
    ("booking.starts_at", "ne", "2026-06-01T10:00:00+08:00", "2026-06-01T10:00:00Z", True),
    ("booking.starts_at", "ne", "2026-06-01T10:00:00+08:00", "2026-06-01T02:00:00Z", False),
    ("booking.starts_at", "gt", "2026-06-01T10:00:00+08:00", "2026-06-01T02:00:01Z", True),
    ("booking.starts_at", "gt", "2026-06-01T10:00:00+08:00", "2026-06-01T02:00:00Z", False),
    ("booking.starts_at", "gte", "2026-06-01T10:00:00+08:00", "2026-06-01T02:00:00Z", True),
    ("booking.starts_at", "gte", "2026-06-01T10:00:00+08:00", "2026-06-01T09:59:59+08:00", False),
    ("booking.starts_at", "lt", "2026-06-01T10:00:00+08:00", "2026-06-01T01:59:59Z", True),
    ("booking.starts_at", "lt", "2026-06-01T10:00:00+08:00", "2026-06-01T10:00:00+08:00", False),
    ("booking.starts_at", "lte", "2026-06-01T10:00:00+08:00", "2026-06-01T10:00:00+08:00", True),
    ("booking.starts_at", "lte", "2026-06-01T10:00:00+08:00", "2026-06-01T03:00:00Z", False),
    (
        "booking.starts_at", "between", ["2026-06-01T00:00:00+08:00", "2026-06-02T00:00:00+08:00"],
        "2026-06-01T23:30:00+08:00", True,
    ),
    (
        "booking.starts_at", "between", ["2026-06-01T00:00:00+08:00", "2026-06-02T00:00:00+08:00"],
        "2026-06-01T23:30:00Z", False,  # 07:30 on 2 June in Shanghai
    ),
    ("booking.starts_at", "is_set", True, datetime(2026, 6, 1, tzinfo=UTC), True),
]


@pytest.mark.parametrize(("field", "op", "value", "fact", "expected"), CASES)
def test_every_op_on_every_kind_it_takes(field: str, op: str, value: Any, fact: Any, expected: bool) -> None:
    condition = leaf(field, op, value)

    assert held(condition, {field: fact}, WITH_DATETIME) is expected


def test_the_cases_cover_every_op_of_every_kind() -> None:
    covered = {(WITH_DATETIME[field].kind, op) for field, op, *_ in CASES}

    assert covered == {(kind, op) for kind, ops in OPS.items() for op in ops}


def test_is_set_without_a_value_means_is_set_true() -> None:
    condition = leaf("customer.tier", "is_set")

    assert held(condition, {"customer.tier": "vip"}) is True
    assert held(condition, {}) is False
    assert evaluate(condition, {}).leaves[0].expected is True


def test_facts_of_other_fields_do_not_matter() -> None:
    condition = leaf("customer.tier", "eq", "vip")

    assert held(condition, {"customer.tier": "vip", "customer.points": 5, "event.type": "booking.created"}) is True


# --- Facts that are not set ------------------------------------------------------------------------

UNSET_CASES: list[tuple[str, str, Any]] = [
    ("customer.tier", "eq", "vip"),
    ("customer.tier", "ne", "vip"),
    ("customer.tier", "in", ["vip", "gold"]),
    ("customer.tier", "not_in", ["vip", "gold"]),
    ("customer.tier", "contains", "v"),
    ("customer.points", "gt", -1),
    ("customer.points", "gte", -1),
    ("customer.points", "lt", 1),
    ("customer.points", "lte", 1),
    ("customer.points", "between", [-1, 1]),
    ("customer.is_new", "eq", False),
    ("customer.tags", "contains", "vip"),
    ("customer.tags", "eq", []),
    ("customer.tags", "in", ["vip"]),
    ("customer.tags", "not_in", ["vip"]),
    ("booking.starts_at", "lt", "2999-01-01T00:00:00Z"),
]


@pytest.mark.parametrize(("field", "op", "value"), UNSET_CASES)
@pytest.mark.parametrize("facts", [{}, {"customer.tier": None, "customer.points": None, "customer.tags": None}])
def test_a_fact_not_set_fails_every_op_but_ne_and_not_in(field: str, op: str, value: Any, facts: Any) -> None:
    assert held(leaf(field, op, value), facts, WITH_DATETIME) is (op in ("ne", "not_in"))


@pytest.mark.parametrize("facts", [{}, {"customer.tier": None}])
def test_is_set_tells_a_fact_not_set(facts: dict[str, Any]) -> None:
    assert held(leaf("customer.tier", "is_set", True), facts) is False
    assert held(leaf("customer.tier", "is_set", False), facts) is True


# --- Groups ----------------------------------------------------------------------------------------


def test_an_empty_all_holds_and_an_empty_any_does_not() -> None:
    assert held({"all": []}, {}) is True
    assert held({"any": []}, {}) is False
    assert held({"not": {"all": []}}, {}) is False
    assert held({"not": {"any": []}}, {}) is True
    assert evaluate({"all": []}, {}).leaves == ()


def test_all_needs_every_member_and_any_needs_one() -> None:
    vip, big = leaf("customer.tier", "eq", "vip"), leaf("booking.seats", "gte", 4)

    assert held({"all": [vip, big]}, {"customer.tier": "vip", "booking.seats": 4}) is True
    assert held({"all": [vip, big]}, {"customer.tier": "vip", "booking.seats": 3}) is False
    assert held({"any": [vip, big]}, {"customer.tier": "gold", "booking.seats": 4}) is True
    assert held({"any": [vip, big]}, {"customer.tier": "gold", "booking.seats": 3}) is False


def test_nested_groups() -> None:
    # VIPs, or first-timers booking a big group outside the weekend.
    condition = {
        "any": [
            leaf("customer.tier", "eq", "vip"),
            {
                "all": [
                    leaf("customer.is_new", "eq", True),
                    leaf("booking.seats", "gte", 4),
                    {"not": leaf("booking.weekday", "in", ["sat", "sun"])},
                ]
            },
        ]
    }
    first_timers = {"customer.is_new": True, "booking.seats": 6}

    assert held(condition, {**first_timers, "booking.weekday": "wed"}) is True
    assert held(condition, {**first_timers, "booking.weekday": "sat"}) is False
    assert held(condition, {**first_timers, "booking.weekday": "sat", "customer.tier": "vip"}) is True
    assert held(condition, {**first_timers, "booking.seats": 2, "booking.weekday": "wed"}) is False


def test_not_of_not_is_the_condition_itself() -> None:
    condition = {"not": {"not": leaf("customer.points", "gt", 10)}}

    assert held(condition, {"customer.points": 11}) is True
    assert held(condition, {"customer.points": 10}) is False


# --- The explanation -------------------------------------------------------------------------------


def test_the_verdict_lists_every_leaf_in_document_order_with_its_path() -> None:
    condition = {
        "all": [
            leaf("customer.tier", "eq", "vip"),
            {"any": [leaf("customer.tags", "contains", "regular"), {"not": leaf("booking.channel", "eq", "phone")}]},
            leaf("customer.points", "is_set"),
        ]
    }
    facts = {"customer.tier": "gold", "customer.tags": ["regular"], "booking.channel": "phone"}

    verdict = evaluate(condition, facts)

    assert verdict.held is False
    assert verdict.leaves == (
        LeafResult("conditions.all[0]", "customer.tier", "eq", "vip", "gold", False),
        LeafResult("conditions.all[1].any[0]", "customer.tags", "contains", "regular", ["regular"], True),
        LeafResult("conditions.all[1].any[1].not", "booking.channel", "eq", "phone", "phone", True),
        LeafResult("conditions.all[2]", "customer.points", "is_set", True, None, False),
    )


def test_every_leaf_is_evaluated_after_the_outcome_is_decided() -> None:
    condition = {"all": [leaf("customer.points", "gt", 100), leaf("customer.points", "lt", 10)]}

    verdict = evaluate(condition, {"customer.points": 5})

    assert verdict.held is False
    assert [(result.path, result.held) for result in verdict.leaves] == [
        ("conditions.all[0]", False),
        ("conditions.all[1]", True),
    ]


def test_a_single_leaf_is_the_whole_condition() -> None:
    verdict = evaluate(leaf("event.type", "eq", "booking.created"), {"event.type": "booking.created"})

    assert verdict.held is True
    assert verdict.leaves == (LeafResult("conditions", "event.type", "eq", "booking.created", "booking.created", True),)


# --- Problems --------------------------------------------------------------------------------------


def test_a_good_condition_has_no_problems() -> None:
    condition = {
        "all": [
            leaf("booking.status", "in", ["confirmed", "checked_in"]),
            {"any": [leaf("customer.tags", "eq", ["vip"]), {"not": leaf("customer.tier", "is_set", False)}]},
        ]
    }

    assert problems(condition) == {}
    assert problems({"all": []}) == {}
    assert problems({"any": []}) == {}


@pytest.mark.parametrize("condition", [None, "customer.tier == 'vip'", 42, ["all"], {}, {"where": "x"}])
def test_what_is_not_a_condition(condition: object) -> None:
    assert problems(condition) == {"conditions": "not a condition: give all, any, not, or field/op/value"}


def test_a_member_that_is_not_a_condition() -> None:
    assert problems({"any": [leaf("customer.tier", "eq", "vip"), "vip", {"not": []}]}) == {
        "conditions.any[1]": "not a condition: give all, any, not, or field/op/value",
        "conditions.any[2].not": "not a condition: give all, any, not, or field/op/value",
    }


def test_a_group_needs_a_list() -> None:
    assert problems({"all": leaf("customer.tier", "eq", "vip")}) == {
        "conditions.all": "all needs a list of conditions",
    }
    assert problems({"any": "vip"}) == {"conditions.any": "any needs a list of conditions"}


def test_a_group_takes_one_of_all_any_not() -> None:
    assert problems({"all": [], "any": []}) == {"conditions": "give only one of all, any, not"}


def test_unknown_keys_in_a_group_and_in_a_leaf() -> None:
    condition = {"all": [{**leaf("customer.tier", "eq", "vip"), "negate": True}], "label": "VIPs"}

    assert problems(condition) == {
        "conditions.label": "unknown key label",
        "conditions.all[0].negate": "unknown key negate",
    }


def test_two_problems_on_one_path_are_both_kept() -> None:
    assert problems({"all": ["vip"], "all[0]": 1}) == {
        "conditions.all[0]": "unknown key all[0]; not a condition: give all, any, not, or field/op/value",
    }


def test_unknown_field() -> None:
    assert problems(leaf("customer.tierr", "eq", "vip")) == {"conditions.field": "unknown field customer.tierr"}


def test_a_field_only_the_given_catalogue_knows() -> None:
    condition = leaf("booking.starts_at", "gt", "2026-06-01T10:00:00+08:00")

    assert problems(condition) == {"conditions.field": "unknown field booking.starts_at"}
    assert problems(condition, WITH_DATETIME) == {}


def test_missing_and_malformed_field_and_op() -> None:
    assert problems({"all": [{"value": 3}, {"field": ["customer.tier"], "op": "eq", "value": "vip"}]}) == {
        "conditions.all[0].field": "field is missing",
        "conditions.all[0].op": "op is missing",
        "conditions.all[1].field": "field must be a field name, such as customer.tier",
    }


def test_unknown_op_lists_the_ops_the_field_takes() -> None:
    assert problems(leaf("customer.tier", "equals", "vip")) == {
        "conditions.op": "unknown op equals: use one of eq, ne, in, not_in, contains, is_set",
    }
    assert problems(leaf("customer.tierr", "equals", "vip")) == {
        "conditions.field": "unknown field customer.tierr",
        "conditions.op": (
            "unknown op equals: use one of eq, ne, in, not_in, gt, gte, lt, lte, between, contains, is_set"
        ),
    }


@pytest.mark.parametrize(
    ("field", "op", "kind"),
    [
        ("customer.tier", "gt", "a string"),
        ("booking.weekday", "between", "a string"),
        ("customer.points", "contains", "an integer"),
        ("customer.is_new", "in", "a boolean"),
        ("customer.is_new", "lt", "a boolean"),
        ("customer.tags", "gte", "a string_list"),
        ("booking.starts_at", "in", "a datetime"),
        ("booking.starts_at", "contains", "a datetime"),
    ],
)
def test_an_op_that_does_not_apply_to_the_kind(field: str, op: str, kind: str) -> None:
    assert problems(leaf(field, op, 1), WITH_DATETIME) == {"conditions.op": f"op {op} does not apply to {kind} field"}


def test_a_value_is_needed_by_every_op_but_is_set() -> None:
    assert problems({"not": leaf("customer.points", "gt")}) == {"conditions.not.value": "value is missing"}
    assert problems(leaf("customer.points", "is_set")) == {}


@pytest.mark.parametrize(
    ("field", "op", "value", "message"),
    [
        ("customer.points", "gt", "100", "value must be an integer"),
        ("customer.points", "eq", 1.5, "value must be an integer"),
        ("customer.points", "eq", True, "value must be an integer"),  # a bool is not a number here
        ("customer.tier", "eq", 1, "value must be a string"),
        ("customer.tier", "eq", ["vip"], "value must be a string"),
        ("service.name", "contains", None, "value must be a string"),
        ("customer.is_new", "eq", 1, "value must be true or false"),
        ("customer.is_new", "eq", "true", "value must be true or false"),
        ("customer.tags", "contains", ["vip"], "value must be a string"),
        ("customer.tier", "is_set", "yes", "is_set takes true or false"),
        ("customer.tier", "is_set", None, "is_set takes true or false"),
        ("booking.weekday", "eq", "monday", "value must be one of: mon, tue, wed, thu, fri, sat, sun"),
        ("booking.payment_status", "ne", "free", "value must be one of: unpaid, awaiting_payment, paid, refunded"),
    ],
)
def test_a_value_of_the_wrong_type(field: str, op: str, value: Any, message: str) -> None:
    assert problems({"any": [leaf(field, op, value)]}) == {"conditions.any[0].value": message}


@pytest.mark.parametrize(
    "value", ["2026-06-01T10:00:00", "2026-06-01", "next monday", 1780279200, ["2026-06-01T10:00:00+08:00"]]
)
def test_a_datetime_value_is_iso_8601_with_an_offset(value: Any) -> None:
    assert problems(leaf("booking.starts_at", "gt", value), WITH_DATETIME) == {
        "conditions.value": "value must be an ISO 8601 date-time with an offset, such as 2026-06-01T10:00:00+08:00",
    }


def test_in_and_not_in_need_a_list_of_good_values() -> None:
    assert problems({
        "all": [
            leaf("customer.tier", "in", "vip"),
            leaf("customer.tier", "not_in", []),
            leaf("booking.channel", "in", ["web", "fax", 3]),
            leaf("booking.hour", "not_in", [9, "10"]),
            leaf("customer.tags", "in", ["vip", None]),
        ]
    }) == {
        "conditions.all[0].value": "in needs a list of values",
        "conditions.all[1].value": "not_in needs at least one value",
        "conditions.all[2].value[1]": f"value must be one of: {', '.join(FIELDS['booking.channel'].values or ())}",
        "conditions.all[2].value[2]": "value must be a string",
        "conditions.all[3].value[1]": "value must be an integer",
        "conditions.all[4].value[1]": "value must be a string",
    }


@pytest.mark.parametrize("value", [10, [10], [10, 20, 30], [20, 10], {"low": 10, "high": 20}])
def test_between_needs_low_and_high_in_order(value: Any) -> None:
    assert problems(leaf("booking.price_amount", "between", value)) == {
        "conditions.value": "between needs [low, high] with low <= high",
    }


def test_between_checks_each_bound_and_orders_date_times_by_instant() -> None:
    assert problems(leaf("booking.hour", "between", ["9", False])) == {
        "conditions.value[0]": "value must be an integer",
        "conditions.value[1]": "value must be an integer",
    }
    # 10:00 in Shanghai is before 03:00 UTC although the text sorts the other way.
    in_order = leaf("booking.starts_at", "between", ["2026-06-01T10:00:00+08:00", "2026-06-01T03:00:00+00:00"])
    reversed_ = leaf("booking.starts_at", "between", ["2026-06-01T03:00:00+00:00", "2026-06-01T10:00:00+08:00"])
    assert problems(in_order, WITH_DATETIME) == {}
    assert problems(reversed_, WITH_DATETIME) == {"conditions.value": "between needs [low, high] with low <= high"}


def test_eq_and_ne_on_a_string_list_need_a_list_of_strings() -> None:
    assert problems({"any": [leaf("customer.tags", "eq", "vip"), leaf("resource.names", "ne", ["Li Na", 7])]}) == {
        "conditions.any[0].value": "eq on a string_list field needs a list of strings",
        "conditions.any[1].value[1]": "value must be a string",
    }


def _nested(levels: int, inner: dict[str, Any]) -> dict[str, Any]:
    for index in range(levels):
        inner = {"not": inner} if index % 2 else {"all": [inner]}
    return inner


def test_groups_nest_at_most_five_deep() -> None:
    vip = leaf("customer.tier", "eq", "vip")

    assert MAX_DEPTH == 5
    assert problems(_nested(5, vip)) == {}
    assert problems(_nested(6, vip)) == {"conditions": "groups nest at most 5 deep"}
    assert problems(_nested(500, vip)) == {"conditions": "groups nest at most 5 deep"}  # no recursion error


def test_at_most_fifty_leaves_counted_across_groups() -> None:
    vip = leaf("customer.tier", "eq", "vip")

    assert MAX_LEAVES == 50
    assert problems({"all": [vip] * 25 + [{"any": [vip] * 25}]}) == {}
    assert problems({"all": [vip] * 25 + [{"any": [vip] * 26}]}) == {
        "conditions": "at most 50 conditions in a rule; this has 51",
    }


def test_both_limits_are_reported_together_once() -> None:
    vip = leaf("customer.tier", "eq", "vip")

    assert problems({"all": [vip] * 60 + [_nested(6, vip)]}) == {
        "conditions": "groups nest at most 5 deep; at most 50 conditions in a rule; this has 60",
    }


def test_every_problem_is_reported_at_once_in_document_order() -> None:
    condition = {
        "all": [
            leaf("customer.tierr", "eq", "vip"),
            {"any": [leaf("booking.seats", "gt", "2"), leaf("booking.channel", "eq", "fax")]},
            {"not": leaf("customer.tier", "gt", "vip")},
            leaf("customer.is_new", "eq", True),
            {"all": [], "any": []},
        ],
        "note": "weekend VIPs",
    }

    found = problems(condition)

    assert list(found.items()) == [
        ("conditions.note", "unknown key note"),
        ("conditions.all[0].field", "unknown field customer.tierr"),
        ("conditions.all[1].any[0].value", "value must be an integer"),
        (
            "conditions.all[1].any[1].value",
            f"value must be one of: {', '.join(FIELDS['booking.channel'].values or ())}",
        ),
        ("conditions.all[2].not.op", "op gt does not apply to a string field"),
        ("conditions.all[4]", "give only one of all, any, not"),
    ]


# --- Properties ------------------------------------------------------------------------------------

INTEGER_FIELDS = ("booking.seats", "customer.points")
STRING_FIELDS = ("customer.tier", "service.name")
NUMBERS = st.integers(min_value=-3, max_value=3)
WORDS = st.sampled_from(["vip", "gold", "v", "Cut", ""])


def _leaves(field: str, values: st.SearchStrategy[Any], ordered: bool) -> st.SearchStrategy[dict[str, Any]]:
    scalar_ops = ["eq", "ne"] + (["gt", "gte", "lt", "lte"] if ordered else ["contains"])
    return st.one_of(
        st.builds(leaf, st.just(field), st.sampled_from(scalar_ops), values),
        st.builds(leaf, st.just(field), st.sampled_from(["in", "not_in"]), st.lists(values, min_size=1, max_size=3)),
        st.builds(leaf, st.just(field), st.just("is_set"), st.booleans()),
        st.builds(leaf, st.just(field), st.just("is_set")),
        *(
            [st.builds(leaf, st.just(field), st.just("between"), st.lists(values, min_size=2, max_size=2).map(sorted))]
            if ordered else []
        ),
    )


LEAVES = st.one_of(
    *[_leaves(field, NUMBERS, ordered=True) for field in INTEGER_FIELDS],
    *[_leaves(field, WORDS, ordered=False) for field in STRING_FIELDS],
)
FACTS = st.fixed_dictionaries(
    {},
    optional={
        **{field: st.none() | NUMBERS for field in INTEGER_FIELDS},
        **{field: st.none() | WORDS for field in STRING_FIELDS},
    },
)
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda members: {"all": members}, st.lists(inner, max_size=3)),
        st.builds(lambda members: {"any": members}, st.lists(inner, max_size=3)),
        st.builds(lambda member: {"not": member}, inner),
    ),
    max_leaves=8,
)


@given(condition=LEAVES, facts=FACTS)
def test_not_inverts_a_leaf(condition: dict[str, Any], facts: dict[str, Any]) -> None:
    assert problems(condition) == {}

    assert evaluate({"not": condition}, facts).held == (not evaluate(condition, facts).held)


@given(conditions=st.lists(LEAVES, max_size=6), facts=FACTS)
def test_any_and_all_agree_with_python(conditions: list[dict[str, Any]], facts: dict[str, Any]) -> None:
    each = [evaluate(condition, facts).held for condition in conditions]

    any_verdict = evaluate({"any": conditions}, facts)
    assert any_verdict.held == any(each)
    assert evaluate({"all": conditions}, facts).held == all(each)
    assert [result.held for result in any_verdict.leaves] == each
    assert [result.path for result in any_verdict.leaves] == [f"conditions.any[{i}]" for i in range(len(each))]


@given(condition=CONDITIONS, facts=FACTS)
def test_not_inverts_any_nested_condition(condition: dict[str, Any], facts: dict[str, Any]) -> None:
    assume(problems(condition) == {})  # st.recursive can nest deeper than the limit allows
    plain, negated = evaluate(condition, facts), evaluate({"not": condition}, facts)

    assert negated.held == (not plain.held)
    assert [result.path for result in negated.leaves] == [
        result.path.replace("conditions", "conditions.not", 1) for result in plain.leaves
    ]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from(["all", "field", "eq", "in"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["all", "any", "not", "field", "op", "value", "x"]), inner, max_size=4),
    max_leaves=20,
)


@given(condition=JSON)
def test_any_json_gets_problems_not_an_exception(condition: object) -> None:
    found = problems(condition)

    assert all(path.startswith("conditions") and message for path, message in found.items())
