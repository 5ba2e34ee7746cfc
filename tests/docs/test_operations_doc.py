"""docs/operations.md documents every setting, as the code defines it, and no setting that does not exist."""

from __future__ import annotations

import re
import types
from pathlib import Path, PurePath
from typing import Any, Literal, Union, get_args, get_origin

from appliance.settings import CONFIG_ENV, SettingSpec, setting_specs

OPERATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
ENV_MENTION = re.compile(r"\bAPPLIANCE_[A-Z0-9_]+")


def rendered_default(value: Any) -> str:
    """A default as the reference table shows it."""
    if value is None:
        return "*(unset)*"
    if value in ("", ()):
        return "*(empty)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (str, int, PurePath)):
        return f"`{value}`"
    raise AssertionError(f"teach rendered_default() how the docs show {value!r}")


def rendered_type(tp: Any) -> str:
    """A setting's type as the reference table shows it."""
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in get_args(tp))
    if origin in (Union, types.UnionType):
        present = [arg for arg in get_args(tp) if arg is not type(None)]
        if len(present) == 1:
            return rendered_type(present[0])  # optional: the default cell says "(unset)"
    if origin in (tuple, list) and get_args(tp)[0] is str:
        return "list of strings"
    simple = {str: "string", int: "integer", bool: "boolean", Path: "path"}
    if tp in simple:
        return simple[tp]
    raise AssertionError(f"teach rendered_type() how the docs show {tp!r}")


def reference_rows(doc: str) -> dict[str, list[list[str]]]:
    """Table rows whose first cell is an env var name, by that name: (env, toml, type, default, meaning)."""
    rows: dict[str, list[list[str]]] = {}
    for line in doc.splitlines():
        if not line.startswith("| `APPLIANCE_"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.setdefault(cells[0].strip("`"), []).append(cells)
    return rows


def expected_cells(spec: SettingSpec) -> list[str]:
    return [f"`{spec.env}`", f"`[{spec.group}] {spec.key}`", rendered_type(spec.type), rendered_default(spec.default)]


def test_every_setting_has_one_reference_row_with_its_key_type_and_default() -> None:
    # given the settings the code reads and the operator guide
    specs = setting_specs()
    rows = reference_rows(OPERATIONS_DOC.read_text(encoding="utf-8"))

    # then each setting has exactly one row, and it tells the truth
    problems = []
    for spec in specs:
        found = rows.get(spec.env, [])
        if len(found) != 1:
            problems.append(f"{spec.env}: {len(found)} reference rows, want 1")
            continue
        cells = found[0]
        if len(cells) != 5 or not cells[4]:
            problems.append(f"{spec.env}: want 5 cells (env, TOML, type, default, meaning), got {cells}")
            continue
        if cells[:4] != expected_cells(spec):
            problems.append(f"{spec.env}: row says {cells[:4]}, code says {expected_cells(spec)}")
    assert not problems, "docs/operations.md settings reference is out of date:\n" + "\n".join(problems)


def test_the_guide_names_no_setting_that_does_not_exist() -> None:
    # given every env var name the guide mentions anywhere
    doc = OPERATIONS_DOC.read_text(encoding="utf-8")
    mentioned = set(ENV_MENTION.findall(doc))

    # then each one is a real setting (or the config file variable)
    known = {spec.env for spec in setting_specs()} | {CONFIG_ENV}
    assert sorted(mentioned - known) == []
    assert set(reference_rows(doc)) <= known
