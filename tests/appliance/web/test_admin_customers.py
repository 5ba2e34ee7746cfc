"""The customers pages on both engines: search by the last four digits, the 360 profile's facts as the
queries have them, what the list and the profile reveal audited as the API's are, tags, notes, merge and
undo, the edit form's inline errors, and what a role may do."""

from __future__ import annotations

import re
from uuid import UUID

import httpx
import msgspec

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.customers import queries
from appliance.forms.actions import create_form
from appliance.forms.schemas import FormCreate
from appliance.testing.builders import make_user, second_factor
from tests.appliance.customers.support import book, complete, pay, phone, shop
from tests.appliance.web.test_admin_shell import ORIGIN, csrf_of, sign_in_with_the_form


async def _signed_in(client: httpx.AsyncClient, role: Role = Role.manager) -> dict[str, str]:
    """Signed in with the login form; the headers an htmx post from the pages sends."""
    await make_user(f"crm-{role.value}", role)
    code = (await second_factor(f"crm-{role.value}")).get("totp")
    await sign_in_with_the_form(client, f"crm-{role.value}", **({"code": code} if code else {}))
    token = csrf_of((await client.get("/admin/")).text)
    return {**ORIGIN, "HX-Request": "true", "X-CSRF-Token": token}


async def _customer(n: int) -> UUID:
    [found] = await queries.find_customer_ids(phone=phone(n))
    return found


def _rows(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/customers/([0-9a-f-]{36})">', html.split("<tbody>", 1)[-1])


async def test_the_last_four_digits_find_the_customer_and_nobody_else(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await book(place.service_id, 2, 12, 2, name="李雷")
    await _signed_in(client)
    first, second = await _customer(1), await _customer(2)

    found = await client.get("/admin/customers", params={"last4": phone(2)[-4:]})

    assert found.status_code == 200
    assert _rows(found.text) == [str(second)] and "李雷" in found.text
    assert set(_rows((await client.get("/admin/customers")).text)) == {str(first), str(second)}
    wrong = await client.get("/admin/customers", params={"last4": "12a"}, headers={"Accept-Language": "zh-CN"})
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text and "请输入手机号码的后四位" in wrong.text


async def test_the_profile_shows_the_facts_the_queries_derive(client: httpx.AsyncClient) -> None:
    place = await shop()
    visit = await book(place.service_id, 3, 10, 1)
    await complete(visit)
    await pay(visit)
    await book(place.service_id, 4, 10, 1)
    await _signed_in(client)
    customer_id = await _customer(1)
    expected = await queries.get_customer(customer_id, actor=cli_actor())

    profile = await client.get(f"/admin/customers/{customer_id}?lang=en")

    assert profile.status_code == 200
    facts = dict(re.findall(r'data-fact="(\w+)">([^<]*)<', profile.text))
    assert facts["visit_count"] == str(expected.facts.visit_count) == "1"
    assert facts["lifetime_value"] == "CN¥198.00" and expected.facts.lifetime_value == 19800
    assert facts["no_show_count"] == "0" and facts["points"] == str(expected.points.balance)
    assert f"/admin/bookings/{visit}" in profile.text
    assert profile.headers["cache-control"] == "no-store"


async def test_tags_and_notes_are_added_and_removed_from_the_profile(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    headers = await _signed_in(client, Role.front_desk)
    customer_id = await _customer(1)

    added = await client.post(f"/admin/customers/{customer_id}/tags", data={"tag": "VIP"}, headers=headers)
    noted = await client.post(f"/admin/customers/{customer_id}/notes", data={"body": "喜欢安静"}, headers=headers)

    assert added.headers["hx-location"] == noted.headers["hx-location"] == f"/admin/customers/{customer_id}"
    view = await queries.get_customer(customer_id, actor=cli_actor())
    assert view.tags == ["vip"] and [n.body for n in view.notes] == ["喜欢安静"]
    assert "喜欢安静" in (await client.get(f"/admin/customers/{customer_id}")).text
    await client.post(f"/admin/customers/{customer_id}/tags/remove", data={"tag": "vip"}, headers=headers)
    assert (await queries.get_customer(customer_id, actor=cli_actor())).tags == []
    empty = await client.post(f"/admin/customers/{customer_id}/notes", data={"body": " "}, headers=headers)
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.text


async def test_a_duplicate_is_merged_and_the_merge_undone_through_the_pages(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    moved = await book(place.service_id, 3, 10, 2, name="韩梅梅 (旧号)")
    headers = await _signed_in(client)
    survivor, duplicate = await _customer(1), await _customer(2)

    search = await client.get(f"/admin/customers/{survivor}/merge", params={"phone": phone(2)})
    assert f"duplicate={duplicate}" in search.text
    preview = await client.get(f"/admin/customers/{survivor}/merge", params={"phone": phone(2), "duplicate": str(duplicate)})
    assert re.search(r"Bookings|预约", preview.text) and ": 1</li>" in preview.text
    # The duplicate's name is not taken (the survivor has one): shown as a conflict, kept in the record.
    assert re.search(r'class="merge-conflicts"><dt>(Name|姓名)</dt><dd>韩梅梅 \(旧号\)</dd>', preview.text)
    merged = await client.post(f"/admin/customers/{survivor}/merge", data={"duplicate_id": str(duplicate)}, headers=headers)

    record_path = merged.headers["hx-location"]
    [merge] = await queries.list_merges(survivor, actor=cli_actor())
    assert record_path == f"/admin/customers/merges/{merge.id}" and merge.moved.bookings == [moved]
    assert _rows((await client.get("/admin/customers")).text) == [str(survivor)]
    record_page = (await client.get(record_path)).text
    assert "/undo" in record_page and "<dd>韩梅梅 (旧号)</dd>" in record_page
    undone = await client.post(f"{record_path}/undo", headers=headers)
    assert undone.headers["hx-location"] == record_path
    assert (await queries.get_merge(merge.id)).undone_at is not None
    assert set(_rows((await client.get("/admin/customers")).text)) == {str(survivor), str(duplicate)}
    again = await client.post(f"{record_path}/undo", headers=headers)
    assert again.status_code == 409 and 'role="alert"' in again.text


async def test_an_invalid_email_is_named_inline_in_chinese_and_nothing_changes(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    headers = await _signed_in(client, Role.front_desk)
    customer_id = await _customer(1)
    before = await queries.get_customer(customer_id, actor=cli_actor())

    edited = await client.post(
        f"/admin/customers/{customer_id}/edit",
        data={"name": "韩梅梅改", "phone": phone(1), "email": "not-an-email", "gender": "female"},
        headers={**headers, "Accept-Language": "zh-CN"},
    )

    assert edited.status_code == 422
    assert 'id="email" name="email" type="email" value="not-an-email" aria-invalid="true" aria-describedby="email-error"' in edited.text
    assert '<p class="field-error" id="email-error">请输入有效的邮箱地址' in edited.text
    after = await queries.get_customer(customer_id, actor=cli_actor())
    assert (after.name, after.email, after.gender, after.updated_at) == (before.name, before.email, before.gender, before.updated_at)
    fixed = await client.post(
        f"/admin/customers/{customer_id}/edit",
        data={"name": "韩梅梅改", "phone": phone(1), "email": "mei@example.com", "gender": "female"}, headers=headers,
    )
    assert fixed.headers["hx-location"] == f"/admin/customers/{customer_id}"
    saved = await queries.get_customer(customer_id, actor=cli_actor())
    assert (saved.name, saved.email, saved.gender) == ("韩梅梅改", "mei@example.com", "female")


async def test_front_desk_sees_no_erase_or_points_and_is_refused_them(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    headers = await _signed_in(client, Role.front_desk)
    customer_id = await _customer(1)

    profile = (await client.get(f"/admin/customers/{customer_id}")).text

    assert f"/admin/customers/{customer_id}/edit" in profile
    assert f"/admin/customers/{customer_id}/erase" not in profile and f"/admin/customers/{customer_id}/points" not in profile
    refused = await client.post(f"/admin/customers/{customer_id}/points", data={"points": "5", "reason": "x"}, headers=headers)
    assert refused.status_code == 403
    assert (await client.get(f"/admin/customers/{customer_id}/erase")).status_code == 403
    assert (await queries.get_customer(customer_id, actor=cli_actor())).points.balance == 0


async def test_erasure_needs_the_typed_word_and_a_reason(client: httpx.AsyncClient) -> None:
    place = await shop()
    await complete(await book(place.service_id, 2, 10, 1))
    headers = {**await _signed_in(client, Role.compliance_officer), "Accept-Language": "zh-CN"}
    customer_id = await _customer(1)
    erase = f"/admin/customers/{customer_id}/erase"

    assert "输入“删除”以确认" in (await client.get(erase)).text
    unconfirmed = await client.post(erase, data={"reason": "PIPL-2026-007", "confirm": "好"}, headers=headers)
    no_reason = await client.post(erase, data={"reason": "", "confirm": "删除"}, headers=headers)

    assert unconfirmed.status_code == no_reason.status_code == 422
    assert 'aria-describedby="confirm-error"' in unconfirmed.text and 'aria-describedby="reason-error"' in no_reason.text
    assert (await queries.get_customer(customer_id, actor=cli_actor())).erased_at is None
    erased = await client.post(erase, data={"reason": "PIPL-2026-007", "confirm": "删除"}, headers=headers)
    assert erased.headers["hx-location"] == f"{erase}?done=1"
    gone = await queries.get_customer(customer_id, actor=cli_actor())
    assert gone.erased_at is not None and gone.phone is None


async def test_consent_and_the_profile_form_s_fields_are_kept_from_the_profile(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    fields = [{"key": "allergy", "type": "text", "label": {"zh-CN": "过敏史", "en": "Allergies"}},
              {"key": "visits_wanted", "type": "number", "label": {"zh-CN": "每月到店", "en": "Visits a month"}, "max": 30}]
    await create_form(msgspec.convert({"target": "customers", "name": "客户资料", "fields": fields}, FormCreate), actor=cli_actor())
    headers = await _signed_in(client, Role.front_desk)
    customer_id = await _customer(1)
    contact = {"name": "韩梅梅", "phone": phone(1), "email": "", "gender": ""}

    too_many = await client.post(f"/admin/customers/{customer_id}/edit", data={
        **contact, "custom_fields.allergy": "花粉", "custom_fields.visits_wanted": "99",
    }, headers=headers)
    saved = await client.post(f"/admin/customers/{customer_id}/edit", data={
        **contact, "custom_fields.allergy": "花粉", "custom_fields.visits_wanted": "4",
    }, headers=headers)
    await client.post(f"/admin/customers/{customer_id}/consent", data={
        "consent.marketing": "no", "consent.sms": "yes", "consent.email": "",
    }, headers=headers)

    assert too_many.status_code == 422 and 'aria-describedby="custom_fields-visits_wanted-error"' in too_many.text
    assert saved.status_code == 200
    view = await queries.get_customer(customer_id, actor=cli_actor())
    assert view.custom_fields == {"allergy": "花粉", "visits_wanted": 4}
    assert {c.purpose: c.granted for c in view.consent if c.granted is not None} == {"marketing": False, "sms": True}
    profile = (await client.get(f"/admin/customers/{customer_id}")).text
    assert "过敏史" in profile and "花粉" in profile


async def test_a_manager_adjusts_points_with_a_reason_and_zero_is_refused_inline(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    headers = {**await _signed_in(client, Role.manager), "Accept-Language": "zh-CN"}
    customer_id = await _customer(1)
    points = f"/admin/customers/{customer_id}/points"

    zero = await client.post(points, data={"points": "0", "reason": "补录"}, headers=headers)
    too_many = await client.post(points, data={"points": "-5", "reason": "补录"}, headers=headers)
    added = await client.post(points, data={"points": "50", "reason": "补录"}, headers=headers)

    assert zero.status_code == too_many.status_code == 422
    assert "请输入非 0 的数字" in zero.text and "该客户只有 0 积分" in too_many.text
    assert added.headers["hx-location"] == f"/admin/customers/{customer_id}"
    view = await queries.get_customer(customer_id, actor=cli_actor())
    assert view.points.balance == 50
    assert "补录" in (await client.get(f"/admin/customers/{customer_id}")).text


async def test_the_list_and_the_profile_pages_record_what_they_reveal_as_the_api_does(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await _signed_in(client)
    customer_id = await _customer(1)

    assert (await client.get("/admin/customers")).status_code == 200
    assert (await client.get(f"/admin/customers/{customer_id}")).status_code == 200
    assert (await client.get("/admin/customers", params={"last4": "0000"})).status_code == 200  # finds nobody

    entries = await AuditEntry.select(AuditEntry.action, AuditEntry.target_id, AuditEntry.details).where(
        AuditEntry.action.is_in(["customers.listed", "customer.viewed"])
    ).order_by(AuditEntry.occurred_at).output(load_json=True)
    assert [(e["action"], e["target_id"]) for e in entries] == [("customers.listed", None), ("customer.viewed", str(customer_id))]
    assert entries[0]["details"] == {"count": 1, "customer_ids": [str(customer_id)], "fields": ["email", "name", "phone"]}
    assert "phone" in entries[1]["details"]["fields"] and phone(1)[3:] not in str(entries)  # names fields, not values


async def test_further_phones_are_edited_as_one_comma_separated_field_and_a_bad_one_is_named_inline(
    client: httpx.AsyncClient,
) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    headers = await _signed_in(client, Role.front_desk)
    customer_id = await _customer(1)
    form = {"name": "韩梅梅", "phone": phone(1), "email": "", "gender": ""}

    bad = await client.post(
        f"/admin/customers/{customer_id}/edit", data={**form, "extra_phones": "13900000077，12345"},
        headers={**headers, "Accept-Language": "zh-CN"},
    )
    saved = await client.post(
        f"/admin/customers/{customer_id}/edit", data={**form, "extra_phones": "139 0000 0078，13900000077"}, headers=headers,
    )
    profile = (await client.get(f"/admin/customers/{customer_id}")).text
    edit = (await client.get(f"/admin/customers/{customer_id}/edit")).text

    assert bad.status_code == 422
    assert '<p class="field-error" id="extra_phones-error">请输入有效的手机号码' in bad.text
    assert saved.headers["hx-location"] == f"/admin/customers/{customer_id}"
    assert (await queries.get_customer(customer_id, actor=cli_actor())).extra_phones == [phone(77), phone(78)]
    assert f"{phone(77)}, {phone(78)}" in profile and f'value="{phone(77)}, {phone(78)}"' in edit
    assert await queries.find_customer_ids(phone_last4="0078") == [customer_id]
