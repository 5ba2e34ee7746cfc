"""The catalog's forms pages on both engines: a service's booking questions are written as rows and saved
through the forms actions (each save a version), a wrong question is named at its row's input and nothing
is saved, settings the editor does not show are kept, and a role that may only read the catalog cannot write."""

from __future__ import annotations

import httpx

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.forms import actions as form_actions
from appliance.forms import queries as form_queries
from appliance.forms.schemas import FieldDef, FormCreate, LabelText
from appliance.forms.tables import Form
from appliance.testing.builders import make_branch, make_resource, make_service, sign_in_as
from tests.appliance.web.ops_support import staff


def question(row: int, **inputs: str) -> dict[str, str]:
    names = ("key", "type", "label_zh", "label_en", "help_zh", "help_en", "options", "min", "max", "min_length",
             "max_length", "pattern", "visible_field", "visible_op", "visible_value")
    return {f"fields[{row}].{name}": inputs.get(name, "") for name in names} | (
        {f"fields[{row}].required": "on"} if inputs.get("required") else {}
    )


async def test_a_service_gets_booking_questions_typed_as_rows(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id, "精油按摩")
    headers = await staff(client, "mgr", Role.manager)
    offer = await client.get(f"/admin/catalog/services/{service.id}")
    assert f'href="/admin/catalog/forms/new?service_id={service.id}"' in offer.text

    saved = await client.post("/admin/catalog/forms", headers=headers, data={
        "service_id": str(service.id), "name": "按摩问卷",
        **question(0, key="pressure", type="single_select", label_zh="力度偏好", label_en="Pressure", required="on",
                   options="soft = 轻 / Soft\nfirm = 重 / Firm"),
        **question(1),  # a blank row, offered to add one
        **question(2, key="guests", type="number", label_zh="同行人数", min="0", max="4"),
    })

    assert saved.status_code == 200, saved.text
    [row] = await Form.select(Form.id)
    form = await form_queries.get_form(row["id"], actor=cli_actor())
    assert saved.headers["hx-location"] == f"/admin/catalog/forms/{form.id}"
    assert form.service_id == service.id and form.version == 1
    pressure, guests = form.fields
    assert pressure.required and [(o.value, o.label.zh_cn, o.label.en) for o in pressure.options] == [
        ("soft", "轻", "Soft"), ("firm", "重", "Firm")]
    assert (guests.type, guests.min, guests.max, guests.label.en) == ("number", 0, 4, "")
    page = await client.get(f"/admin/catalog/forms/{form.id}")
    assert 'value="pressure"' in page.text and "soft = 轻 / Soft" in page.text


async def test_a_wrong_question_is_named_at_its_row_and_nothing_is_saved(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id)
    headers = await staff(client, "mgr", Role.manager)

    def post(key: str) -> dict[str, str]:
        return {
            "service_id": str(service.id), "name": "问卷",
            **question(0),  # blank: the questions below are the form's first and second
            **question(1, key="pressure", type="single_select", label_zh="力度"),  # a choice without options
            **question(2, key=key, type="text", label_zh="备注"),
        }

    bad_key = await client.post("/admin/catalog/forms?lang=en", headers=headers, data=post("Bad Key"))
    no_options = await client.post("/admin/catalog/forms?lang=en", headers=headers, data=post("note"))

    assert bad_key.status_code == 422
    assert 'aria-invalid="true" aria-describedby="fields[2]-key-error"' in bad_key.text
    assert no_options.status_code == 422
    assert 'aria-invalid="true" aria-describedby="fields[1]-options-error"' in no_options.text
    assert 'value="note"' in no_options.text  # what was typed stays
    assert await Form.count() == 0


async def test_saving_makes_a_new_version_and_keeps_what_the_editor_does_not_show(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "owner", Role.owner)
    note = FieldDef(key="code", type="text", label=LabelText(zh_cn="会员码"), pattern=r"[A-Z]{2}\d{4}", max_length=6,
                    pattern_message=LabelText(zh_cn="两个大写字母加四位数字"))
    form = await form_actions.create_form(FormCreate(target="customers", name="客户资料", fields=[note]), actor=cli_actor())
    shown = await client.get(f"/admin/catalog/forms/{form.id}?lang=en")
    assert "Also kept as set through the API: pattern_message" in shown.text
    assert r'name="fields[0].pattern" type="text" value="[A-Z]{2}\d{4}"' in shown.text
    assert 'name="fields[0].max_length" type="text" value="6"' in shown.text

    saved = await client.post(f"/admin/catalog/forms/{form.id}", headers=headers, data={
        "name": "客户资料", **question(0, key="code", type="text", label_zh="会员编号", label_en="Member code",
                                      pattern=r"[A-Z]{2}\d{4}", max_length="6"),
    })

    assert saved.status_code == 200, saved.text
    now = await form_queries.get_form(form.id, actor=cli_actor())
    assert now.version == 2
    [code] = now.fields
    assert (code.label.zh_cn, code.label.en, code.pattern, code.max_length) == ("会员编号", "Member code", r"[A-Z]{2}\d{4}", 6)
    assert code.pattern_message == LabelText(zh_cn="两个大写字母加四位数字")


async def test_a_question_is_asked_only_when_another_is_answered_so_and_text_is_bounded(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "owner", Role.owner)

    saved = await client.post("/admin/catalog/forms", headers=headers, data={
        "name": "客户资料",
        **question(0, key="has_allergy", type="checkbox", label_zh="是否过敏"),
        **question(1, key="allergy", type="text", label_zh="过敏原", min_length="2", max_length="80",
                   pattern=r"[^0-9]+", visible_field="has_allergy", visible_op="eq", visible_value="true"),
        **question(2, key="pressure", type="single_select", label_zh="力度", options="soft\nfirm\nhard"),
        **question(3, key="why", type="long_text", label_zh="原因", visible_field="pressure", visible_op="in",
                   visible_value="firm, hard"),
    })

    assert saved.status_code == 200, saved.text
    [row] = await Form.select(Form.id)
    form = await form_queries.get_form(row["id"], actor=cli_actor())
    _, allergy, _, why = form.fields
    assert (allergy.min_length, allergy.max_length, allergy.pattern) == (2, 80, "[^0-9]+")
    assert allergy.visible_if is not None and (allergy.visible_if.field, allergy.visible_if.op, allergy.visible_if.value) == (
        "has_allergy", "eq", True)
    assert why.visible_if is not None and (why.visible_if.op, why.visible_if.value) == ("in", ["firm", "hard"])
    page = await client.get(f"/admin/catalog/forms/{form.id}")
    assert '<option value="has_allergy" selected>has_allergy</option>' in page.text
    assert 'name="fields[3].visible_value" type="text" value="firm, hard"' in page.text


async def test_a_wrong_condition_length_or_pattern_is_said_at_its_input_in_chinese(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "owner", Role.owner)
    controller = question(0, key="pressure", type="single_select", label_zh="力度", options="soft\nfirm")

    def post(**row: str) -> httpx.Response:
        return client.post("/admin/catalog/forms?lang=zh-CN", headers=headers, data={
            "name": "客户资料", **controller, **question(1, key="why", type="text", label_zh="原因", **row)})

    not_an_answer = await post(visible_field="pressure", visible_op="eq", visible_value="medium")
    no_question = await post(visible_op="eq", visible_value="soft")
    later_question = await post(visible_field="later", visible_op="is_set", visible_value="true")
    bad_lengths = await post(min_length="9", max_length="3")
    bad_pattern = await post(pattern="(a+)+")

    assert not_an_answer.status_code == 422
    assert 'aria-describedby="fields[1]-visible_value-error"' in not_an_answer.text
    assert "这不是 pressure 可能的回答。" in not_an_answer.text
    assert 'aria-describedby="fields[1]-visible_field-error"' in no_question.text and "请选择另一个问题。" in no_question.text
    assert "请选择本问题之前的一个问题。" in later_question.text
    assert 'aria-describedby="fields[1]-min_length-error"' in bad_lengths.text and "最短不能超过最长。" in bad_lengths.text
    assert 'aria-describedby="fields[1]-pattern-error"' in bad_pattern.text and "不允许此格式" in bad_pattern.text
    assert await Form.count() == 0


async def test_front_desk_may_read_forms_but_not_write_them(client: httpx.AsyncClient) -> None:
    form = await form_actions.create_form(FormCreate(target="customers", name="客户资料", fields=[
        FieldDef(key="note", type="text", label=LabelText(zh_cn="备注")),
    ]), actor=cli_actor())
    headers = await staff(client, "desk", Role.front_desk)

    listing = await client.get("/admin/catalog/forms")
    page = await client.get(f"/admin/catalog/forms/{form.id}")
    refused = await client.post(f"/admin/catalog/forms/{form.id}", headers=headers, data={"name": "改名"})

    assert listing.status_code == 200 and "客户资料" in listing.text
    assert page.status_code == 200 and "<fieldset disabled>" in page.text.replace(" >", ">")
    assert refused.status_code == 403
    assert (await form_queries.get_form(form.id, actor=cli_actor())).name == "客户资料"


async def test_a_branch_manager_may_not_change_the_customer_fields_of_every_branch(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    form = await form_actions.create_form(FormCreate(target="customers", name="客户资料", fields=[
        FieldDef(key="note", type="text", label=LabelText(zh_cn="备注")),
    ]), actor=cli_actor())
    await sign_in_as(client, "branch-mgr", Role.manager, branch_id=branch.id)

    page = await client.get(f"/admin/catalog/forms/{form.id}")

    assert page.status_code == 200 and "<fieldset disabled>" in page.text.replace(" >", ">")
