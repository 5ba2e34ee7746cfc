"""The form editor's rows, both ways: a form's questions shown as rows read back as the same fields,
options are typed one a line, and problem paths name the row's input they are about."""

from __future__ import annotations

import msgspec

from appliance.forms.schemas import FieldDef
from appliance.web.admin.form_rows import fields_of, input_of, options_of, rows_of

FIELDS = msgspec.convert([
    {"key": "pressure", "type": "single_select", "label": {"zh-CN": "力度", "en": "Pressure"}, "required": True,
     "help": {"zh-CN": "按摩力度", "en": ""},
     "options": [{"value": "soft", "label": {"zh-CN": "轻", "en": "Soft"}}, {"value": "firm", "label": {"zh-CN": "重", "en": "Firm"}}]},
    {"key": "guests", "type": "number", "label": {"zh-CN": "人数", "en": ""}, "min": 0, "max": 4},
    {"key": "code", "type": "text", "label": {"zh-CN": "会员码", "en": ""}, "pattern": "[A-Z]{2}\\d{4}", "max_length": 6,
     "pattern_message": {"zh-CN": "格式不对", "en": ""}, "visible_if": {"field": "guests", "op": "in", "value": [1, 2]}},
    {"key": "member", "type": "checkbox", "label": {"zh-CN": "会员", "en": ""},
     "visible_if": {"field": "pressure", "op": "is_set", "value": False}},
], list[FieldDef])


def test_questions_shown_as_rows_read_back_as_the_same_fields() -> None:
    rows = list(enumerate(rows_of(FIELDS)))

    fields, _ = fields_of(rows, FIELDS)

    assert msgspec.convert(fields, list[FieldDef]) == FIELDS  # the pattern's message kept by key


def test_options_are_typed_one_a_line() -> None:
    assert options_of("soft = 轻 / Soft\n\n  firm=重\nplain") == [
        {"value": "soft", "label": {"zh-CN": "轻", "en": "Soft"}},
        {"value": "firm", "label": {"zh-CN": "重", "en": ""}},
        {"value": "plain", "label": {"zh-CN": "plain", "en": ""}},
    ]


def test_problem_paths_name_the_rows_input() -> None:
    rows_at = {"fields[0]": "fields[2]", "fields[1]": "fields[5]"}

    assert input_of("fields[0].label.en", rows_at) == "fields[2].label_en"
    assert input_of("fields[1].options[1].label", rows_at) == "fields[5].options"
    assert input_of("fields[1].visible_if.field", rows_at) == "fields[5].visible_field"
    assert input_of("fields[1].visible_if.value", rows_at) == "fields[5].visible_value"
    assert input_of("fields[1].max_length", rows_at) == "fields[5].max_length"
    assert input_of("fields[1].pattern_message.zh-CN", rows_at) == "fields[5].key"
    assert input_of("name", rows_at) == "name"
