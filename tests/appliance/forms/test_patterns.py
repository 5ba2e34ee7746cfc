"""Patterns staff put on text fields: the dangerous ones are refused, the accepted ones stay fast."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.forms.patterns import MAX_MATCHED, MAX_PATTERN, compiled, matches, pattern_problem


@pytest.mark.parametrize("pattern", [
    r"\d{6}", r"[A-Z]{2}-\d{4}", r"1[3-9]\d{9}", r"[\w.]+@\w+\.[a-z]{2,6}", r"(ab)+c", r"(?i)vip\d*", r"(?:a|b)c",
    r"\d{4}-\d{2}-\d{2}|\d{8}",
])
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize(("pattern", "fragment"), [
    (r"(a+)+$", "repeat inside a repeat"),
    (r"(.*){10}", "repeat inside a repeat"),
    (r"(?:\d{2,3}){5}", "repeat inside a repeat"),
    (r"(a|aa)+", "alternatives inside a repeat"),
    (r"(x+x+)+y", "repeat inside a repeat"),
    (r"\d*\d*\d*\d*x", "at most 3"),
    (r"(a*|b*|c*|d*)", "at most 3"),
    (r"(a)\1", "back-references"),
    (r"(?=a)b", "look-ahead"),
    (r"(?<!a)b", "look-ahead"),
    (r"(a)?(?(1)b|c)", "conditional"),
    (r"[", "not a regular expression"),
    ("a" * (MAX_PATTERN + 1), f"at most {MAX_PATTERN}"),
])
def test_dangerous_patterns_are_refused(pattern: str, fragment: str) -> None:
    problem = pattern_problem(pattern)

    assert problem is not None and fragment in problem


def test_values_longer_than_the_bound_never_reach_the_engine() -> None:
    assert matches(r"a*", "a" * MAX_MATCHED)
    assert not matches(r"a*", "a" * (MAX_MATCHED + 1))


def test_a_pattern_is_compiled_once() -> None:
    assert compiled(r"\d{3}-unique") is compiled(r"\d{3}-unique")


# The slowest shape the rules let through: three overlapping repeats failing at the very end.
WORST = [r"\d*\d*\d*x", r".*.*.*x", r"(?:\d+)\d+\d+x", r"[a-z]*[a-z0-9]*\w*!"]


@pytest.mark.parametrize("pattern", WORST)
def test_the_worst_accepted_patterns_take_milliseconds_on_crafted_answers(pattern: str) -> None:
    assert pattern_problem(pattern) is None
    value = ("1" if "d" in pattern else "a") * MAX_MATCHED

    started = time.perf_counter()
    result = matches(pattern, value)
    elapsed = time.perf_counter() - started

    assert result is False
    print(f"{pattern}: {elapsed * 1000:.1f} ms on {MAX_MATCHED} characters")
    assert elapsed < 0.25


atoms = st.sampled_from([r"a", r"\d", r"[ab]", r".", r"\w", r"(?:ab)", r"x"])
quantifiers = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,3}", "*?"])
pieces = st.tuples(atoms, quantifiers).map("".join)
groups = st.lists(pieces, min_size=1, max_size=3).map(lambda p: "(" + "".join(p) + ")") | pieces
patterns = st.tuples(st.lists(groups | groups.map(lambda g: g + "+"), min_size=1, max_size=6), st.booleans()).map(
    lambda parts: "|".join(parts[0]) if parts[1] else "".join(parts[0])
)


@settings(max_examples=300, deadline=None)
@given(patterns, st.sampled_from(["a", "1", "ab", "x"]))
def test_any_accepted_pattern_fails_fast_on_adversarial_answers(pattern: str, unit: str) -> None:
    if pattern_problem(pattern) is not None:
        return
    value = (unit * MAX_MATCHED)[: MAX_MATCHED - 1] + "!"

    started = time.perf_counter()
    matches(pattern, value)

    assert time.perf_counter() - started < 0.25, pattern
