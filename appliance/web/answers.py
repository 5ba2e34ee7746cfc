"""Answers to a form's questions as posted by a page (text) in the types a JSON client would send."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import FormMultiDict

from appliance.forms.schemas import FieldDef


def answers_from_form(fields: list[FieldDef], form: FormMultiDict, prefix: str = "answers") -> dict[str, Any]:
    """Each question's input is named `<prefix>.<key>`; blank ones are left out (a checkbox is False)."""
    answers: dict[str, Any] = {}
    for item in fields:
        name = f"{prefix}.{item.key}"
        if item.type == "multi_select":
            if chosen := [str(v) for v in form.getall(name, [])]:
                answers[item.key] = chosen
            continue
        if item.type == "checkbox":
            answers[item.key] = form.get(name) == "on"
            continue
        raw = str(form.get(name, "")).strip()
        if not raw:
            continue
        if item.type == "number":
            try:
                answers[item.key] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
            except ValueError:
                answers[item.key] = raw  # the checker names it: not a number
        else:
            answers[item.key] = raw
    return answers
