"""The form editor's rows, both ways: a form's field definitions as one row of inputs per question, and the
posted rows as the fields the forms package checks, with its problem paths named after the inputs.

Pure: no I/O. What a field means and which definitions are valid is the forms package's to say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, get_args

import msgspec

from appliance.web.i18n import N_
from appliance.forms.schemas import FieldDef, FieldType, VisibleIf, VisibleOp

TYPES: Final[tuple[str, ...]] = get_args(FieldType)
INPUTS: Final = ("key", "type", "label_zh", "label_en", "help_zh", "help_en", "required", "options", "min", "max",
                 "min_length", "max_length", "pattern", "visible_field", "visible_op", "visible_value")
VISIBLE_OPS: Final[tuple[str, ...]] = get_args(VisibleOp)
EXTRA_ROWS: Final = 3  # blank questions under a form's own, to add more
MOST_ROWS: Final = 50  # the forms package's cap on fields
# Set through the API only: the editor keeps them as they are on a question whose key stays.
KEPT: Final = ("pattern_message",)
_PART_INPUT: Final = {"label": "label_zh", "help": "help_zh", "options": "options", "min": "min", "max": "max",
                      "type": "type", "required": "required", "key": "key", "min_length": "min_length",
                      "max_length": "max_length", "pattern": "pattern"}
_VISIBLE_INPUT: Final = {"field": "visible_field", "op": "visible_op", "value": "visible_value"}


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


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _visible_value(text: str, op: str, controller_type: str | None) -> object:
    """The typed comparison value as the answer it is compared with: a list for in/not_in (comma
    separated), true/false for a checkbox and is_set, a number for a number question."""
    if op in ("in", "not_in"):
        return [_visible_value(part.strip(), "eq", controller_type) for part in text.split(",") if part.strip()]
    if op == "is_set" or controller_type == "checkbox":
        return {"true": True, "false": False}.get(text.strip().lower(), text if text.strip() else None)
    if controller_type == "number":
        return _bound(text.strip()) if text.strip() else None
    return text.strip()


def _visible_if(given: Mapping[str, str], types: Mapping[str, str]) -> dict[str, Any] | None:
    field, op = given.get("visible_field", ""), given.get("visible_op", "")
    if not field and not op:
        return None
    rule: dict[str, Any] = {"field": field, "op": op}
    value = _visible_value(given.get("visible_value", ""), op, types.get(field))
    if value is not None:
        rule["value"] = value
    return rule


def rows_of(fields: Sequence[FieldDef]) -> list[dict[str, str]]:
    """A form's questions as the editor's inputs, one row each."""
    return [{
        "key": f.key, "type": f.type, "label_zh": f.label.zh_cn, "label_en": f.label.en,
        "help_zh": f.help.zh_cn if f.help else "", "help_en": f.help.en if f.help else "",
        "required": "on" if f.required else "", "options": options_text(f),
        "min": _shown(f.min), "max": _shown(f.max), "min_length": _shown(f.min_length),
        "max_length": _shown(f.max_length), "pattern": f.pattern or "",
        **_visible_row(f.visible_if),
    } for f in fields]


def _visible_row(rule: VisibleIf | None) -> dict[str, str]:
    if rule is None:
        return {"visible_field": "", "visible_op": "", "visible_value": ""}
    return {"visible_field": rule.field, "visible_op": rule.op, "visible_value": _shown(rule.value)}


def kept_of(fields: Sequence[FieldDef]) -> dict[str, list[str]]:
    """Per key, the settings the editor does not show but keeps (to say so next to the question)."""
    return {f.key: [name for name in KEPT if getattr(f, name) is not None] for f in fields}


def fields_of(
    rows: Sequence[tuple[int, Mapping[str, str]]], current: Sequence[FieldDef]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The posted questions as field definitions (what the API takes), and which form row each became
    (`fields[0]` → `fields[3]` when the first question was typed into the fourth row)."""
    before = {f.key: f for f in current}
    types = {given.get("key", ""): given.get("type", "") for _, given in rows}
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
        for length in ("min_length", "max_length"):
            if value_text := given.get(length, "").strip():
                field[length] = int(value_text) if re.fullmatch(r"\d+", value_text) else value_text
        if given.get("pattern"):
            field["pattern"] = given["pattern"]
        if (rule := _visible_if(given, types)) is not None:
            field["visible_if"] = rule
        if (kept := before.get(field["key"])) is not None:
            field |= {name: msgspec.to_builtins(getattr(kept, name)) for name in KEPT if getattr(kept, name) is not None}
        rows_at[f"fields[{len(fields)}]"] = f"fields[{row}]"
        fields.append(field)
    return fields, rows_at


def hints(count: int) -> dict[str, str]:
    """msgspec's "matching regex" would mean nothing to staff when no other question is chosen."""
    return {f"fields[{i}].visible_if.field": N_("Choose the other question.") for i in range(count)}


def input_of(key: str, rows_at: Mapping[str, str]) -> str:
    """The input a problem path is about: `fields[0].label.zh-CN` → `fields[3].label_zh`; a setting the
    editor does not show (a pattern's message) is said at the question's key; `visible_if.op` at its select."""
    found = re.match(r"^(fields\[\d+\])(?:\.(\w+))?(?:\.(\w+))?", key)
    if found is None:
        return key
    row = rows_at.get(found.group(1), found.group(1))
    if found.group(2) == "visible_if":
        return f"{row}.{_VISIBLE_INPUT.get(found.group(3) or '', 'visible_field')}"
    part = _PART_INPUT.get(found.group(2) or "", "key")
    if part == "label_zh" and key.endswith(".en"):
        part = "label_en"
    return f"{row}.{part}"
