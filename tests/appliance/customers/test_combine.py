"""Combining profiles in a merge, and taking it back: the survivor's values win, blanks are filled, map
entries are added within the map's bounds, and undo blanks only what the merge left as it was."""

from __future__ import annotations

from datetime import date

from appliance.customers.combine import combine, with_filled, without_filled
from appliance.customers.logic import MAX_MAP_KEYS


def test_blanks_are_filled_and_the_survivors_values_win() -> None:
    kept = {"name": "韩梅梅", "email": None, "gender": "female", "birthday": None, "source_channel": "", "preferences": {"room": "quiet"}}
    theirs = {"name": "韩梅梅", "email": "h@example.com", "gender": "male", "birthday": date(1990, 3, 5), "source_channel": "web",
              "preferences": {"room": "window", "drink": "tea"}, "custom_fields": {}}

    combined = combine(kept, theirs)

    assert combined.filled == {
        "email": "h@example.com", "birthday": "1990-03-05", "source_channel": "web", "preferences": {"drink": "tea"},
    }
    assert combined.conflicts == {"gender": "male", "preferences": {"room": "window"}}
    assert with_filled(kept, combined.filled)["preferences"] == {"room": "quiet", "drink": "tea"}


def test_a_full_map_takes_no_more_entries_and_keeps_them_as_conflicts() -> None:
    full = {f"k{i}": i for i in range(MAX_MAP_KEYS)}

    combined = combine({"custom_fields": full}, {"custom_fields": {"extra": 1}})

    assert combined.filled == {} and combined.conflicts == {"custom_fields": {"extra": 1}}


def test_undo_blanks_only_what_is_still_as_the_merge_left_it() -> None:
    filled = {"email": "h@example.com", "birthday": "1990-03-05", "preferences": {"drink": "tea", "music": "jazz"}}
    now = {"email": "h@example.com", "birthday": date(1991, 4, 6), "preferences": {"room": "quiet", "drink": "tea", "music": "none"}}

    assert without_filled(now, filled) == {"email": None, "preferences": {"room": "quiet", "music": "none"}}
    assert without_filled({"email": None, "preferences": {}}, {"email": "h@example.com"}) == {}
