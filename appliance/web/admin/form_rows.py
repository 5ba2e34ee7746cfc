"""The form editor's rows, both ways: a form's field definitions as one row of inputs per question, and the
posted rows as the fields the forms package checks, with its problem paths named after the inputs.

Pure: no I/O. What a field means and which definitions are valid is the forms package's to say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, get_args

import msgspec

from appliance.forms.schemas import FieldDef, FieldType

TYPES: Final[tuple[str, ...]] = get_args(FieldType)
INPUTS: Final = ("key", "type", "label_zh", "label_en", "help_zh", "help_en", "required", "options", "min", "max")
EXTRA_ROWS: Final = 3  # blank questions under a form's own, to add more
MOST_ROWS: Final = 50  # the forms package's cap on fields
# Set through the API only: the editor keeps them as they are on a question whose key stays.
KEPT: Final = ("min_length", "max_length", "pattern", "pattern_message", "visible_if")
_PART_INPUT: Final = {"label": "label_zh", "help": "help_zh", "options": "options", "min": "min", "max": "max",
                      "type": "type", "required": "required", "key": "key"}


def options_text(field: FieldDef) -> str:
    """One option a line: `value = 中文 / English`."""
    return "\n".join(f"{o.value} = {o.label.zh_cn} / {o.label.en}" for o in field.options)


def options_of(text: str) -> list[dict[str, Any]]:
    """The options typed one a line (`value = 中文 / English`; a line alone is its own value and label)."""
    options = []
    for line in text.splitlines():
        if not line.strip():
            continue
        value, given, labels = line.partition("=")
        zh, _, en = (labels if given else value).partition("/")
        options.append({"value": value.strip(), "label": {"zh-CN": zh.strip(), "en": en.strip()}})
    return options


def _bound(text: str) -> int | float | str | None:
    """A number's bound as a number, a date's as its text (the forms package says which it must be)."""
    if not text:
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text


def rows_of(fields: Sequence[FieldDef]) -> list[dict[str, str]]:
    """A form's questions as the editor's inputs, one row each."""
    return [{
        "key": f.key, "type": f.type, "label_zh": f.label.zh_cn, "label_en": f.label.en,
        "help_zh": f.help.zh_cn if f.help else "", "help_en": f.help.en if f.help else "",
        "required": "on" if f.required else "", "options": options_text(f),
        "min": "" if f.min is None else str(f.min), "max": "" if f.max is None else str(f.max),
    } for f in fields]


def kept_of(fields: Sequence[FieldDef]) -> dict[str, list[str]]:
    """Per key, the settings the editor does not show but keeps (to say so next to the question)."""
    return {f.key: [name for name in KEPT if getattr(f, name) is not None] for f in fields}


def fields_of(
    rows: Sequence[tuple[int, Mapping[str, str]]], current: Sequence[FieldDef]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The posted questions as field definitions (what the API takes), and which form row each became
    (`fields[0]` → `fields[3]` when the first question was typed into the fourth row)."""
    before = {f.key: f for f in current}
    fields: list[dict[str, Any]] = []
    rows_at: dict[str, str] = {}
    for row, given in rows:
        field: dict[str, Any] = {
            "key": given.get("key", ""), "type": given.get("type", ""), "required": bool(given.get("required")),
            "label": {"zh-CN": given.get("label_zh", ""), "en": given.get("label_en", "")},
        }
        if given.get("help_zh") or given.get("help_en"):
            field["help"] = {"zh-CN": given.get("help_zh", ""), "en": given.get("help_en", "")}
        if options := options_of(given.get("options", "")):
            field["options"] = options
        for bound in ("min", "max"):
            if (value := _bound(given.get(bound, ""))) is not None:
                field[bound] = value
        if (kept := before.get(field["key"])) is not None:
            field |= {name: msgspec.to_builtins(getattr(kept, name)) for name in KEPT if getattr(kept, name) is not None}
        rows_at[f"fields[{len(fields)}]"] = f"fields[{row}]"
        fields.append(field)
    return fields, rows_at


def input_of(key: str, rows_at: Mapping[str, str]) -> str:
    """The input a problem path is about: `fields[0].label.zh-CN` → `fields[3].label_zh`; a setting the
    editor does not show (a pattern, visible_if) is said at the question's key."""
    found = re.match(r"^(fields\[\d+\])(?:\.(\w+))?", key)
    if found is None:
        return key
    row = rows_at.get(found.group(1), found.group(1))
    part = _PART_INPUT.get(found.group(2) or "", "key")
    if part == "label_zh" and key.endswith(".en"):
        part = "label_en"
    return f"{row}.{part}"
