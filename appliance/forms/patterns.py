"""Regular expressions staff may put on a text field, kept safe to run on customers' input.

Python's `re` backtracks, and a pattern such as `(a+)+$` takes exponential time on a crafted answer;
there is no timeout to fall back on. So a pattern is refused unless its worst case is small: at most
`MAX_PATTERN` characters; no back-references or look-arounds; no repetition inside a repetition (so
no exponential blow-up); at most `MAX_VARIABLE_REPEATS` repeats of varying count in the whole pattern
(so the polynomial is at most cubic); and it only ever runs on answers of at most `MAX_MATCHED`
characters. The worst accepted pattern then takes milliseconds (tests/appliance/forms measure it).
Compiled patterns are cached, so each is compiled once per process.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from typing import Any, Final

MAX_PATTERN: Final = 200
MAX_MATCHED: Final = 200  # a text field with a pattern holds at most this many characters
MAX_VARIABLE_REPEATS: Final = 3

# The parser behind `re.compile`; private but stable, and the only exact reading of the syntax.
_parser: Any = importlib.import_module("re._parser")
_REFUSED = {
    "GROUPREF": "back-references are not allowed",
    "GROUPREF_EXISTS": "conditional groups are not allowed",
    "ASSERT": "look-ahead and look-behind are not allowed",
    "ASSERT_NOT": "look-ahead and look-behind are not allowed",
}
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})


def pattern_problem(pattern: str) -> str | None:
    """Why this pattern may not be used, or None when it may."""
    if len(pattern) > MAX_PATTERN:
        return f"at most {MAX_PATTERN} characters"
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"not a regular expression: {exc}"
    walk = _Walk()
    walk.items(parsed, inside_repeat=False)
    if walk.problem:
        return walk.problem
    if walk.variable_repeats > MAX_VARIABLE_REPEATS:
        return f"at most {MAX_VARIABLE_REPEATS} repeats of varying length (such as +, * or {{1,5}})"
    return None


class _Walk:
    def __init__(self) -> None:
        self.problem: str | None = None
        self.variable_repeats = 0

    def items(self, items: Any, *, inside_repeat: bool) -> None:
        for op, av in items:
            if self.problem:
                return
            name = str(op)
            if name in _REFUSED:
                self.problem = _REFUSED[name]
            elif name in _REPEATS:
                low, high, body = av
                if inside_repeat:
                    self.problem = "a repeat inside a repeat (such as (a+)+) is not allowed"
                    return
                if low != high:
                    self.variable_repeats += 1
                self.items(body, inside_repeat=True)
            elif name == "SUBPATTERN":
                self.items(av[-1], inside_repeat=inside_repeat)
            elif name == "ATOMIC_GROUP":
                self.items(av, inside_repeat=inside_repeat)
            elif name == "BRANCH":
                if inside_repeat:
                    # (a|aa)+ backtracks exponentially just like a nested repeat.
                    self.problem = "alternatives inside a repeat (such as (a|b)+) are not allowed; use [ab]+"
                    return
                for branch in av[1]:
                    self.items(branch, inside_repeat=False)


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern[str]:
    """The compiled form of a pattern `pattern_problem` accepted."""
    return re.compile(pattern)


def matches(pattern: str, value: str) -> bool:
    """Whether the whole value matches; values longer than MAX_MATCHED never reach the engine."""
    return len(value) <= MAX_MATCHED and compiled(pattern).fullmatch(value) is not None
