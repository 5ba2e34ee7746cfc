"""Combining two customers' profiles in a merge, and taking the combination back on undo: no I/O.

The survivor keeps every value it has. What it lacks and the duplicate has is copied: a blank name, email,
gender, birthday or source channel, and each preferences or custom-fields entry under a key it does not
have (as long as the map stays within its bounds). A value of the duplicate that the survivor's overrides
is a conflict, kept in the merge record to be looked at. The phone is never copied: it stays with the
duplicate (one customer per phone), and lookups follow it to the survivor.

Values are JSON-ready (a birthday as ISO text), as the merge record keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from appliance.customers.logic import map_problems

SCALARS: Final = ("name", "email", "gender", "birthday", "source_channel")
MAPS: Final = ("preferences", "custom_fields")
FIELDS: Final = SCALARS + MAPS


@dataclass(frozen=True)
class Combined:
    # By field: the value copied; for a map, the entries copied ({key: value}).
    filled: dict[str, Any] = field(default_factory=dict)
    # By field: the duplicate's value the survivor's overrode; for a map, those entries.
    conflicts: dict[str, Any] = field(default_factory=dict)


def plain(value: Any) -> Any:
    """A profile value as the record keeps it: a date as ISO text, a blank as None."""
    if isinstance(value, date):
        return value.isoformat()
    return None if value in (None, "", {}) else value


def combine(kept: Mapping[str, Any], theirs: Mapping[str, Any]) -> Combined:
    """What merging a customer with profile `theirs` into one with profile `kept` copies, and the conflicts."""
    filled: dict[str, Any] = {}
    conflicts: dict[str, Any] = {}
    for name in SCALARS:
        mine, other = plain(kept.get(name)), plain(theirs.get(name))
        if other is None or other == mine:
            continue
        if mine is None:
            filled[name] = other
        else:
            conflicts[name] = other
    for name in MAPS:
        mine_map, added, clashing = dict(kept.get(name) or {}), {}, {}
        for key, value in sorted((theirs.get(name) or {}).items()):
            if key in mine_map:
                if mine_map[key] != value:
                    clashing[key] = value
            elif not map_problems({**mine_map, key: value}, name):
                mine_map[key] = added[key] = value
            else:
                clashing[key] = value  # no room left in the survivor's map
        if added:
            filled[name] = added
        if clashing:
            conflicts[name] = clashing
    return Combined(filled, conflicts)


def with_filled(kept: Mapping[str, Any], filled: Mapping[str, Any]) -> dict[str, Any]:
    """The survivor's new values of the fields a merge fills."""
    return {
        name: {**(kept.get(name) or {}), **value} if name in MAPS else value for name, value in filled.items()
    }


def without_filled(current: Mapping[str, Any], filled: Mapping[str, Any]) -> dict[str, Any]:
    """The survivor's values once an undo takes back what the merge filled, for the fields it changes: a
    value still as the merge left it goes back to blank; one staff changed since stays."""
    restored: dict[str, Any] = {}
    for name, value in filled.items():
        if name in MAPS:
            now = dict(current.get(name) or {})
            back = {k: v for k, v in now.items() if not (k in value and value[k] == v)}
            if back != now:
                restored[name] = back
        elif plain(current.get(name)) == value:
            restored[name] = None
    return restored
