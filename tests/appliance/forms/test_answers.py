"""Answers checked against the current form on both engines: customer profile fields, for the CRM."""

from __future__ import annotations

import msgspec
import pytest

from appliance.auth.actor import cli_actor
from appliance.forms import actions
from appliance.forms.answers import AnswersInvalid, check_profile_fields
from appliance.forms.schemas import Form, FormCreate, FormUpdate

pytestmark = pytest.mark.usefixtures("database")

PROFILE = [
    {"key": "skin_type", "type": "single_select", "required": True, "label": {"zh-CN": "肤质", "en": "Skin type"},
     "options": [{"value": "dry", "label": {"zh-CN": "干性"}}, {"value": "oily", "label": {"zh-CN": "油性"}}]},
    {"key": "birthday", "type": "date", "label": {"zh-CN": "生日"}, "max": "2026-12-31"},
]


async def profile_form(fields: list[dict[str, object]] = PROFILE) -> Form:
    data = msgspec.convert({"target": "customers", "name": "客户档案", "fields": fields}, FormCreate)
    return await actions.create_form(data, actor=cli_actor())


async def test_profile_fields_are_checked_against_the_customers_form_and_named_for_the_caller() -> None:
    form = await profile_form()

    checked = await check_profile_fields({"skin_type": "dry", "birthday": "1990-05-01"})
    with pytest.raises(AnswersInvalid) as refused:
        await check_profile_fields({"birthday": "2030-01-01"}, locale="zh-CN", prefix="custom_fields")

    assert (checked.answers, checked.form_id, checked.version) == ({"skin_type": "dry", "birthday": "1990-05-01"}, form.id, 1)
    assert refused.value.fields == {"custom_fields.skin_type": "此项必填", "custom_fields.birthday": "不能晚于 2026-12-31"}


async def test_profile_fields_follow_the_current_version_and_none_are_taken_without_a_form() -> None:
    with pytest.raises(AnswersInvalid) as refused:
        await check_profile_fields({"vip_note": "x"})
    assert refused.value.fields == {"custom_fields.vip_note": "not a question of this form"}
    assert (await check_profile_fields({})).form_id is None

    form = await profile_form()
    edited = msgspec.convert({"fields": PROFILE[:1]}, FormUpdate)
    await actions.update_form(form.id, edited, actor=cli_actor())

    with pytest.raises(AnswersInvalid) as gone:
        await check_profile_fields({"skin_type": "oily", "birthday": "1990-05-01"})
    assert gone.value.fields == {"custom_fields.birthday": "not a question of this form"}
    assert (await check_profile_fields({"skin_type": "oily"})).version == 2
