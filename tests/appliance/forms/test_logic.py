"""Forms' pure rules: which definitions may be saved, and answers checked against them."""

from __future__ import annotations

import string
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.forms.logic import check_answers, definition_problems
from appliance.forms.messages import TEXTS, AnswerError, locale_from
from appliance.forms.schemas import FieldDef


def fields(*items: dict[str, Any]) -> list[FieldDef]:
    """Field definitions from JSON, as the API would read them."""
    return msgspec.convert([{"label": {"zh-CN": "问题", "en": "Question"}, **item} for item in items], list[FieldDef])


def options(*values: str) -> list[dict[str, Any]]:
    return [{"value": v, "label": {"en": v.title()}} for v in values]


def codes(form: list[FieldDef], given_answers: dict[str, Any]) -> dict[str, str]:
    return {key: error.code for key, error in check_answers(form, given_answers).errors.items()}


# --- Definitions -----------------------------------------------------------------------------------

def test_a_sensible_form_has_no_problems() -> None:
    form = fields(
        {"key": "name_on_card", "type": "text", "required": True, "max_length": 40, "pattern": r"[A-Z ]+"},
        {"key": "story", "type": "long_text", "min_length": 10},
        {"key": "age", "type": "number", "min": 0, "max": 120},
        {"key": "birthday", "type": "date", "min": "1900-01-01", "max": "2030-12-31"},
        {"key": "oil", "type": "single_select", "options": options("lavender", "rose")},
        {"key": "areas", "type": "multi_select", "options": options("back", "neck", "feet"), "max": 2},
        {"key": "has_allergy", "type": "checkbox"},
        {"key": "allergy", "type": "text", "required": True, "visible_if": {"field": "has_allergy", "op": "eq", "value": True}},
        {"key": "phone", "type": "phone"},
        {"key": "email", "type": "email"},
    )

    assert definition_problems(form) == {}


@pytest.mark.parametrize(("item", "path", "fragment"), [
    ({"key": "a", "type": "single_select"}, "fields[1].options", "at least one option"),
    ({"key": "a", "type": "single_select", "options": options("x", "x")}, "fields[1].options", "differ"),
    ({"key": "a", "type": "text", "options": options("x")}, "fields[1].options", "no options"),
    ({"key": "a", "type": "number", "min": 5, "max": 1}, "fields[1].min", "not exceed max"),
    ({"key": "a", "type": "number", "min": "five"}, "fields[1].min", "must be a number"),
    ({"key": "a", "type": "date", "max": "2026-02-30"}, "fields[1].max", "a date"),
    ({"key": "a", "type": "multi_select", "options": options("x"), "min": -1}, "fields[1].min", "whole number"),
    ({"key": "a", "type": "checkbox", "max": 1}, "fields[1].max", "no max"),
    ({"key": "a", "type": "text", "min_length": 9, "max_length": 3}, "fields[1].min_length", "not exceed"),
    ({"key": "a", "type": "text", "max_length": 201}, "fields[1].max_length", "at most 200"),
    ({"key": "a", "type": "long_text", "max_length": 5001}, "fields[1].max_length", "at most 5000"),
    ({"key": "a", "type": "number", "max_length": 3}, "fields[1].max_length", "only text"),
    ({"key": "a", "type": "long_text", "pattern": "x"}, "fields[1].pattern", "only a text field"),
    ({"key": "a", "type": "text", "pattern": "(a+)+$"}, "fields[1].pattern", "repeat inside a repeat"),
    ({"key": "a", "type": "text", "pattern": "["}, "fields[1].pattern", "not a regular expression"),
    ({"key": "a", "type": "text", "pattern_message": {"en": "x"}}, "fields[1].pattern_message", "only with a pattern"),
    ({"key": "first", "type": "text"}, "fields[1].key", "earlier field"),
    ({"key": "a", "type": "text", "label": {"zh-CN": " ", "en": ""}}, "fields[1].label", "zh-CN or en"),
    ({"key": "a", "type": "text", "visible_if": {"field": "a", "op": "is_set"}}, "fields[1].visible_if.field", "earlier"),
    ({"key": "a", "type": "text", "visible_if": {"field": "later", "op": "is_set"}}, "fields[1].visible_if.field", "earlier"),
    ({"key": "a", "type": "text", "visible_if": {"field": "first", "op": "eq", "value": 3}}, "fields[1].visible_if.value", "not a possible answer"),
    ({"key": "a", "type": "text", "visible_if": {"field": "first", "op": "in", "value": []}}, "fields[1].visible_if.value", "list"),
    ({"key": "a", "type": "text", "visible_if": {"field": "first", "op": "is_set", "value": "yes"}}, "fields[1].visible_if.value", "true or false"),
])
def test_each_definition_problem_is_named_by_its_path(item: dict[str, Any], path: str, fragment: str) -> None:
    form = fields({"key": "first", "type": "text"}, item, {"key": "later", "type": "text"})

    problems = definition_problems(form)

    assert list(problems) == [path]
    assert fragment in problems[path]


def test_visible_if_values_must_be_options_of_the_controlling_select() -> None:
    form = fields(
        {"key": "oil", "type": "multi_select", "options": options("lavender", "rose")},
        {"key": "why", "type": "text", "visible_if": {"field": "oil", "op": "in", "value": ["rose", "mint"]}},
        {"key": "note", "type": "text", "visible_if": {"field": "oil", "op": "eq", "value": "rose"}},
    )

    assert list(definition_problems(form)) == ["fields[1].visible_if.value"]


def test_the_schema_refuses_bad_keys_and_types() -> None:
    for bad in ({"key": "Allergy", "type": "text"}, {"key": "1st", "type": "text"}, {"key": "a", "type": "rating"}):
        with pytest.raises(msgspec.ValidationError):
            fields(bad)


# --- Answers by type -------------------------------------------------------------------------------

@pytest.mark.parametrize(("item", "answer", "stored"), [
    ({"type": "text"}, "  李雷  ", "李雷"),
    ({"type": "long_text"}, "line one\nline two", "line one\nline two"),
    ({"type": "number", "min": 1, "max": 10}, 10, 10),
    ({"type": "number"}, 2.5, 2.5),
    ({"type": "date"}, "2026-06-01", "2026-06-01"),
    ({"type": "single_select", "options": options("a", "b")}, "b", "b"),
    ({"type": "multi_select", "options": options("a", "b", "c")}, ["c", "a"], ["a", "c"]),
    ({"type": "checkbox"}, False, False),
    ({"type": "phone"}, "138 0013 8000", "+8613800138000"),
    ({"type": "email"}, " Li@Example.COM ", "li@example.com"),
    ({"type": "text", "pattern": r"[A-Z]{2}\d{4}"}, "AB1234", "AB1234"),
])
def test_good_answers_are_stored_normalised(item: dict[str, Any], answer: Any, stored: Any) -> None:
    form = fields({"key": "q", **item})

    checked = check_answers(form, {"q": answer})

    assert checked.errors == {}
    assert checked.answers == {"q": stored}
    assert type(checked.answers["q"]) is type(stored)


@pytest.mark.parametrize(("item", "answer", "code"), [
    ({"type": "text"}, 12, "not_text"),
    ({"type": "text"}, "two\nlines", "one_line"),
    ({"type": "text", "min_length": 3}, "ab", "too_short"),
    ({"type": "text", "max_length": 3}, "abcd", "too_long"),
    ({"type": "text"}, "x" * 201, "too_long"),
    ({"type": "long_text"}, "x" * 5001, "too_long"),
    ({"type": "text", "pattern": r"\d{6}"}, "12345", "wrong_format"),
    ({"type": "text", "pattern": r"\d{6}"}, "1234567", "wrong_format"),
    ({"type": "number"}, "12", "not_a_number"),
    ({"type": "number"}, True, "not_a_number"),
    ({"type": "number", "min": 1}, 0, "below_min"),
    ({"type": "number", "max": 1}, 1.5, "above_max"),
    ({"type": "date"}, "2026-6-1", "not_a_date"),
    ({"type": "date"}, "2026-02-30", "not_a_date"),
    ({"type": "date", "min": "2026-01-01"}, "2025-12-31", "too_early"),
    ({"type": "date", "max": "2026-01-01"}, "2026-01-02", "too_late"),
    ({"type": "single_select", "options": options("a")}, "z", "not_an_option"),
    ({"type": "single_select", "options": options("a")}, ["a"], "not_an_option"),
    ({"type": "multi_select", "options": options("a")}, "a", "not_a_list"),
    ({"type": "multi_select", "options": options("a")}, ["z"], "not_an_option"),
    ({"type": "multi_select", "options": options("a", "b")}, ["a", "a"], "repeated_option"),
    ({"type": "multi_select", "options": options("a", "b", "c"), "min": 2}, ["a"], "too_few_options"),
    ({"type": "multi_select", "options": options("a", "b", "c"), "max": 1}, ["a", "b"], "too_many_options"),
    ({"type": "checkbox"}, "yes", "not_a_boolean"),
    ({"type": "phone"}, "12345", "not_a_phone"),
    ({"type": "email"}, "not-an-address", "not_an_email"),
])
def test_bad_answers_are_refused_with_their_code(item: dict[str, Any], answer: Any, code: str) -> None:
    form = fields({"key": "q", **item})
    assert definition_problems(form) == {}

    checked = check_answers(form, {"q": answer})

    assert {k: e.code for k, e in checked.errors.items()} == {"q": code}
    assert checked.answers == {}


def test_required_means_a_non_empty_answer_and_optional_empty_answers_are_not_stored() -> None:
    form = fields({"key": "a", "type": "text", "required": True}, {"key": "b", "type": "multi_select", "options": options("x")},
                  {"key": "c", "type": "checkbox", "required": True})

    assert codes(form, {}) == {"a": "required", "c": "required"}
    assert codes(form, {"a": "   ", "b": [], "c": None}) == {"a": "required", "c": "required"}
    assert check_answers(form, {"a": "x", "b": [], "c": False}).answers == {"a": "x", "c": False}


def test_answers_to_questions_the_form_does_not_ask_are_refused() -> None:
    form = fields({"key": "a", "type": "text"})

    assert codes(form, {"a": "x", "shoe_size": 42}) == {"shoe_size": "not_a_question"}
    assert codes([], {"anything": 1}) == {"anything": "not_a_question"}


def test_a_pattern_field_with_its_own_message_says_it_in_both_languages() -> None:
    form = fields({"key": "card", "type": "text", "pattern": r"\d{8}", "pattern_message": {"zh-CN": "请填写 8 位卡号", "en": "8 digits, please"}})

    error = check_answers(form, {"card": "123"}).errors["card"]

    assert error.messages() == {"zh-CN": "请填写 8 位卡号", "en": "8 digits, please"}


def test_every_message_exists_in_both_languages_with_its_bounds_filled_in() -> None:
    for code, (zh, en) in TEXTS.items():
        error = AnswerError(code, {"min": 3, "max": 9})
        assert zh and en
        assert "{" not in error.message("zh-CN") + error.message("en"), code
    assert AnswerError("too_long", {"max": 9}).messages() == {"zh-CN": "最多 9 个字", "en": "at most 9 characters"}


@pytest.mark.parametrize(("header", "locale"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("en-US,en;q=0.9,zh;q=0.5", "en"), ("zh-TW", "zh-CN"), (None, "en"),
    ("fr-FR", "en"), ("fr, zh", "zh-CN"),
])
def test_the_locale_follows_accept_language(header: str | None, locale: str) -> None:
    assert locale_from(header) == locale


# --- visible_if ------------------------------------------------------------------------------------

ALLERGY = fields(
    {"key": "has_allergy", "type": "checkbox"},
    {"key": "allergy", "type": "text", "required": True, "visible_if": {"field": "has_allergy", "op": "eq", "value": True}},
    {"key": "severity", "type": "single_select", "required": True, "options": options("mild", "severe"),
     "visible_if": {"field": "allergy", "op": "is_set"}},
    {"key": "plan", "type": "long_text", "required": True, "visible_if": {"field": "severity", "op": "eq", "value": "severe"}},
)


def test_a_hidden_field_is_not_required_and_its_answer_is_dropped() -> None:
    checked = check_answers(ALLERGY, {"has_allergy": False, "allergy": "nuts", "severity": "severe", "plan": "epipen"})

    assert checked.errors == {}
    assert checked.answers == {"has_allergy": False}


def test_a_shown_field_is_required_and_hiding_cascades_down_the_chain() -> None:
    assert codes(ALLERGY, {"has_allergy": True}) == {"allergy": "required"}
    assert codes(ALLERGY, {"has_allergy": True, "allergy": "nuts"}) == {"severity": "required"}
    assert codes(ALLERGY, {"has_allergy": True, "allergy": "nuts", "severity": "severe"}) == {"plan": "required"}
    assert check_answers(ALLERGY, {"has_allergy": True, "allergy": "nuts", "severity": "mild", "plan": "x"}).answers == {
        "has_allergy": True, "allergy": "nuts", "severity": "mild",
    }


def test_a_refused_controlling_answer_counts_as_not_answered() -> None:
    assert codes(ALLERGY, {"has_allergy": "yes", "allergy": "nuts"}) == {"has_allergy": "not_a_boolean"}


@pytest.mark.parametrize(("rule", "answer", "shown"), [
    ({"op": "eq", "value": "rose"}, ["rose", "mint"], True),
    ({"op": "eq", "value": "rose"}, ["mint"], False),
    ({"op": "ne", "value": "rose"}, ["mint"], True),
    ({"op": "ne", "value": "rose"}, None, True),
    ({"op": "in", "value": ["rose", "lily"]}, ["lily"], True),
    ({"op": "not_in", "value": ["rose", "lily"]}, ["lily"], False),
    ({"op": "not_in", "value": ["rose"]}, None, True),
    ({"op": "is_set"}, None, False),
    ({"op": "is_set", "value": False}, None, True),
    ({"op": "eq", "value": "rose"}, None, False),
])
def test_visible_if_ops_on_a_multi_select(rule: dict[str, Any], answer: list[str] | None, shown: bool) -> None:
    form = fields(
        {"key": "oils", "type": "multi_select", "options": options("rose", "mint", "lily")},
        {"key": "why", "type": "text", "required": True, "visible_if": {"field": "oils", **rule}},
    )
    assert definition_problems(form) == {}

    result = codes(form, {} if answer is None else {"oils": answer})

    assert ("why" in result) is shown


def test_visible_if_compares_normalised_values_and_never_a_checkbox_with_a_number() -> None:
    form = fields(
        {"key": "phone", "type": "phone"},
        {"key": "boss_note", "type": "text", "required": True, "visible_if": {"field": "phone", "op": "eq", "value": "13800138000"}},
        {"key": "count", "type": "number"},
        {"key": "one", "type": "text", "required": True, "visible_if": {"field": "count", "op": "eq", "value": 1.0}},
    )
    assert definition_problems(form) == {}

    assert codes(form, {"phone": "+86 138 0013 8000", "count": 1}) == {"boss_note": "required", "one": "required"}
    assert codes(form, {"phone": "13900139000", "count": 2}) == {}


# --- Properties ------------------------------------------------------------------------------------

TYPES = ["text", "long_text", "number", "date", "single_select", "multi_select", "checkbox", "phone", "email"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def forms(draw: st.DrawFn) -> list[FieldDef]:
    """Valid definitions: each field of a random type, some required, some shown only on an earlier answer."""
    items: list[dict[str, Any]] = []
    for index in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(TYPES))
        item: dict[str, Any] = {"key": f"f{index}", "type": kind, "required": draw(st.booleans())}
        if kind in ("single_select", "multi_select"):
            item["options"] = options(*draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True)))
        if kind == "number" and draw(st.booleans()):
            item["min"], item["max"] = sorted(draw(st.lists(st.integers(-100, 100), min_size=2, max_size=2)))
        if kind == "text" and draw(st.booleans()):
            item["pattern"] = draw(st.sampled_from([r"\d+", r"[a-z]{1,5}", r"(ab)*c?", r".*x"]))
        if items and draw(st.booleans()):
            item["visible_if"] = {"field": draw(st.sampled_from(items))["key"], "op": "is_set", "value": draw(st.booleans())}
        items.append(item)
    form = fields(*items)
    assert definition_problems(form) == {}
    return form


def answers_for(form: list[FieldDef]) -> st.SearchStrategy[dict[str, Any]]:
    plausible = {
        "text": st.text(max_size=20), "long_text": st.text(max_size=50), "number": st.integers(-200, 200) | st.floats(),
        "date": st.dates().map(str), "checkbox": st.booleans(), "phone": st.sampled_from(["13800138000", "12", ""]),
        "email": st.sampled_from(["a@b.cn", "nope", ""]), "single_select": st.sampled_from(list("abcdez")),
        "multi_select": st.lists(st.sampled_from(list("abcdez")), max_size=4),
    }
    per_field = {f.key: plausible[f.type] | json_values for f in form}
    extra = st.dictionaries(st.sampled_from(["zz", "f9", "other"]), json_values, max_size=1)
    return st.fixed_dictionaries({}, optional=per_field).flatmap(lambda chosen: extra.map(lambda more: {**chosen, **more}))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_checking_never_crashes_and_its_output_is_consistent(data: st.DataObject) -> None:
    form = data.draw(forms())
    given_answers = data.draw(answers_for(form))

    checked = check_answers(form, given_answers)

    keys = [f.key for f in form]
    assert set(checked.answers) <= set(keys)
    assert not set(checked.answers) & set(checked.errors)
    assert set(checked.errors) <= set(keys) | set(given_answers)
    assert {k for k in given_answers if k not in keys} <= set(checked.errors)
    for error in checked.errors.values():
        assert all(error.messages().values())
    # Accepted answers are a fixed point: checking them again accepts them unchanged.
    if not checked.errors:
        again = check_answers(form, checked.answers)
        assert (again.answers, again.errors) == (checked.answers, {})
        assert msgspec.json.decode(msgspec.json.encode(checked.answers)) == checked.answers


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_without_visible_if_every_required_field_is_stored_or_named(data: st.DataObject) -> None:
    form = [msgspec.structs.replace(f, visible_if=None) for f in data.draw(forms())]

    checked = check_answers(form, data.draw(answers_for(form)))

    for item in form:
        if item.required:
            assert item.key in checked.answers or item.key in checked.errors


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_an_answer_neither_stored_nor_refused_was_dropped_and_changes_nothing(data: st.DataObject) -> None:
    form = data.draw(forms())
    given_answers = data.draw(answers_for(form))
    checked = check_answers(form, given_answers)

    for key in [f.key for f in form if f.key in given_answers]:
        if key not in checked.answers and key not in checked.errors:
            without = check_answers(form, {k: v for k, v in given_answers.items() if k != key})
            assert (without.answers, without.errors) == (checked.answers, checked.errors)


@given(st.text(alphabet=string.printable, max_size=300))
def test_text_answers_longer_than_the_field_allows_are_refused(value: str) -> None:
    form = fields({"key": "q", "type": "text", "max_length": 50})

    checked = check_answers(form, {"q": value})

    stripped = value.strip()
    if not stripped:
        assert checked.answers == {} and checked.errors == {}
    elif "\n" in stripped or "\r" in stripped:
        assert checked.errors["q"].code == "one_line"
    elif len(stripped) > 50:
        assert checked.errors["q"].code == "too_long"
    else:
        assert checked.answers == {"q": stripped}
