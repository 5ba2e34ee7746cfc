"""The customers API on both engines: search by exact phone, last four digits, email, name, tag and tier with
cursor pages; the 360 view; profile edits, tags and notes, each audited by field name only."""

from __future__ import annotations

import json
from uuid import UUID

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_profile_form, sign_in_as
from tests.appliance.customers.support import (
    PRICE, REVEALS, audit_of, book, complete, customer_of, one_customer, pay, phone, shop,
)
from tests.appliance.notifications.support import problems


async def test_customers_are_found_by_exact_phone_last_four_email_name_tag_and_tier(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1, name="李雷", email="Li.Lei@Example.com")
    await book(place.service_id, 2, 11, 2, name="韩梅梅")
    await book(place.service_id, 2, 12, 3, name="Lily Wang")
    await sign_in_as(client, "owner")
    li = (await customer_of(client, 1))["id"]
    await client.post(f"/api/v1/customers/{li}/tags", json={"tags": ["常客"]})

    async def names(**params: str) -> list[str]:
        response = await client.get("/api/v1/customers", params=params)
        assert response.status_code == 200, response.text
        return [c["name"] for c in response.json()["items"]]

    assert await names(phone="13900000002") == ["韩梅梅"]  # a local spelling finds the E.164 number
    assert await names(phone="+86 139-0000-0001") == ["李雷"]
    assert await names(phone_last4="0003") == ["Lily Wang"]
    assert await names(email="li.lei@example.com") == ["李雷"]
    assert await names(email="LI.LEI@EXAMPLE.COM") == ["李雷"]
    assert await names(q="韩梅梅") == ["韩梅梅"]  # the full name, through its blind index
    assert await names(q="  lily   WANG ") == ["Lily Wang"]  # case and spaces aside, on both engines
    assert await names(q="梅") == []  # names are sealed: no part of one can be searched for
    assert await names(tag="常客") == ["李雷"]
    assert await names(tier="normal") == ["Lily Wang", "韩梅梅", "李雷"]  # newest first
    assert await names(tier="vip") == []
    assert await names(phone="not a phone") == []
    assert await names(phone_last4="0001", q="韩梅梅") == []  # filters combine
    assert await names(phone_last4="0002", q="韩梅梅") == ["韩梅梅"]
    assert problems(await client.get("/api/v1/customers", params={"phone_last4": "12"})) == {"phone_last4": "four digits"}


async def test_the_list_pages_by_cursor_newest_first(client: httpx.AsyncClient) -> None:
    place = await shop()
    for n in range(5):
        await book(place.service_id, 2, 10 + n, n, name=f"客户{n}")
    await sign_in_as(client, "owner")

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/customers", params=params)).json()
        seen += [c["name"] for c in page["items"]]
        if not (cursor := page["next_cursor"]):
            break

    assert seen == [f"客户{n}" for n in reversed(range(5))]


async def test_the_360_view_has_profile_membership_facts_points_bookings_and_notes(client: httpx.AsyncClient) -> None:
    place = await shop()
    first = await book(place.service_id, 2, 10, 1)
    await book(place.facial_id, 3, 15, 1)
    await complete(first)
    await pay(first)
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]
    await client.post(f"/api/v1/customers/{customer_id}/notes", json={"body": "颈肩劳损，避开左肩"})

    view = (await client.get(f"/api/v1/customers/{customer_id}")).json()

    assert (view["name"], view["phone"], view["source_channel"]) == ("韩梅梅", phone(1), "web")
    assert view["membership"] == {
        "tier": "normal", "tier_name": "普通会员", "benefits": [], "earned_tier": "normal", "tier_override": None,
    }
    facts = view["facts"]
    assert (facts["visit_count"], facts["lifetime_value"], facts["no_show_count"], facts["cancellation_count"]) == (1, PRICE, 0, 0)
    assert facts["favourite_service"] == {"id": str(place.service_id), "name": "精油按摩"}
    assert facts["favourite_staff"] == {"id": str(place.staff_id), "name": "王芳"}
    assert (facts["usual_hour"], facts["updated_at"] is not None) == (10, True)
    assert view["points"]["balance"] == view["points"]["earned"] == PRICE // 100
    assert view["points"]["next_expiry"]["points"] == PRICE // 100
    assert [(b["service_name"], b["status"]) for b in view["recent_bookings"]] == [("面部护理", "confirmed"), ("精油按摩", "completed")]
    assert [(n["body"], n["author_label"], n["author_kind"]) for n in view["notes"]] == [("颈肩劳损，避开左肩", "owner", "user")]
    history = (await client.get(f"/api/v1/customers/{customer_id}/bookings")).json()
    assert [b["service_id"] for b in history["items"]] == [str(place.service_id), str(place.facial_id)]
    assert (await client.get(f"/api/v1/customers/{UUID(int=5)}")).status_code == 404


async def test_profile_edits_are_audited_with_field_names_and_no_personal_values(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]
    changes = {
        "name": "韩梅", "phone": "13900000099", "email": "Mei@Example.com", "gender": "female", "birthday": "1990-05-20",
        "preferences": {"按摩力度": "轻", "饮品": ["花茶"]}, "custom_fields": {"skin_type": "敏感性"},
    }
    await make_profile_form(texts=["skin_type"])

    response = await client.patch(f"/api/v1/customers/{customer_id}", json=changes)

    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["name"], view["phone"], view["email"], view["gender"], view["birthday"]) == (
        "韩梅", "+8613900000099", "mei@example.com", "female", "1990-05-20",
    )
    assert (view["preferences"], view["custom_fields"]) == (changes["preferences"], changes["custom_fields"])
    assert [c["name"] for c in (await client.get("/api/v1/customers", params={"phone_last4": "0099"})).json()["items"]] == ["韩梅"]
    # The same values again change nothing and record nothing.
    assert (await client.patch(f"/api/v1/customers/{customer_id}", json=changes)).status_code == 200
    entries = await audit_of(customer_id)
    assert [(e["action"], e["changed_fields"]) for e in entries] == [
        ("customer.created", ["name", "phone"]),
        ("customer.updated", ["birthday", "custom_fields", "email", "gender", "name", "phone", "preferences"]),
    ]
    kept = json.dumps([e["details"] for e in entries], ensure_ascii=False) + json.dumps(
        [e["data"] for e in await OutboxEvent.select(OutboxEvent.data).where(OutboxEvent.type == "customer.updated")],
        ensure_ascii=False,
    )
    for value in ("韩梅", "0099", "mei@", "1990", "花茶", "敏感"):
        assert value not in kept


async def test_bad_values_are_422_by_field_and_a_taken_phone_409(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await book(place.service_id, 2, 11, 2)
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]

    bad = await client.patch(f"/api/v1/customers/{customer_id}", json={
        "name": "  ", "phone": "12345", "email": "nobody", "preferences": {"deep": {"a": 1}}, "tier_override": "platinum",
    })
    taken = await client.patch(f"/api/v1/customers/{customer_id}", json={"phone": phone(2)})

    assert problems(bad) == {
        "name": "required", "phone": "not a valid phone number", "email": "not a valid email address",
        "preferences.deep": "text, a number, true/false, null, or a list of text",
        "tier_override": "one of: normal, silver, gold, vip, or null to follow the earned tier",
    }
    assert taken.status_code == 409 and taken.json()["code"] == "phone_taken"
    assert (await customer_of(client, 1))["name"] == "韩梅梅"


SKIN = {"key": "skin_type", "type": "single_select", "required": True, "label": {"zh-CN": "皮肤类型", "en": "Skin type"},
        "options": [{"value": "dry", "label": {"zh-CN": "干性"}}, {"value": "oily", "label": {"zh-CN": "油性"}}]}
VISITS = {"key": "visits_wanted", "type": "number", "label": {"zh-CN": "每月到店", "en": "Visits a month"}, "max": 30}


async def test_custom_fields_must_answer_the_profile_form_or_nothing_is_written(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client, Role.owner)
    url = f"/api/v1/customers/{customer_id}"

    # Without a profile form no custom field is taken.
    formless = await client.patch(url, json={"custom_fields": {"skin_type": "dry"}})
    await make_profile_form([SKIN, VISITS])
    bad = await client.patch(url, json={"name": "韩梅", "custom_fields": {"skin_type": "greasy", "visits_wanted": 99, "vip": "y"}})
    missing = await client.patch(url, json={"custom_fields": {"visits_wanted": 4}}, headers={"Accept-Language": "zh-CN"})

    assert problems(formless) == {"custom_fields.skin_type": "not a question of this form"}
    assert bad.json()["code"] == "validation_failed"
    assert problems(bad) == {
        "custom_fields.skin_type": "not one of the options", "custom_fields.visits_wanted": "must be at most 30",
        "custom_fields.vip": "not a question of this form",
    }
    assert problems(missing) == {"custom_fields.skin_type": "此项必填"}
    view = await customer_of(client, 1)
    assert (view["name"], view["custom_fields"], view["custom_fields_form_id"]) == ("韩梅梅", {}, None)
    assert [e["action"] for e in await audit_of(customer_id)] == ["customer.created"]


async def test_custom_fields_keep_the_form_version_they_were_given_under(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client, Role.owner)
    url = f"/api/v1/customers/{customer_id}"
    form = await make_profile_form([SKIN, VISITS])

    saved = await client.patch(url, json={"custom_fields": {"skin_type": "oily", "visits_wanted": 4}})
    edited = await client.patch(f"/api/v1/forms/{form.id}", json={"fields": [SKIN]})
    later = (await client.get(url)).json()

    assert saved.status_code == 200, saved.text
    assert saved.json()["custom_fields"] == {"skin_type": "oily", "visits_wanted": 4}
    assert (saved.json()["custom_fields_form_id"], saved.json()["custom_fields_form_version"]) == (str(form.id), 1)
    assert edited.status_code == 200, edited.text
    assert later["custom_fields_form_version"] == 1  # an edit of the form leaves the answers given under v1
    # visits_wanted, no longer asked, stays while given unchanged; a new value for it is refused.
    changed = await client.patch(url, json={"custom_fields": {"skin_type": "dry", "visits_wanted": 4}})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["custom_fields"], changed.json()["custom_fields_form_version"]) == (
        {"skin_type": "dry", "visits_wanted": 4}, 2,
    )
    assert problems(await client.patch(url, json={"custom_fields": {"skin_type": "dry", "visits_wanted": 5}})) == {
        "custom_fields.visits_wanted": "not a question of this form",
    }


async def test_a_tier_override_needs_loyalty_manage_and_null_returns_to_the_earned_tier(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "desk", Role.front_desk, branch_id=place.branch_id)
    customer_id = (await customer_of(client, 1))["id"]

    refused = await client.patch(f"/api/v1/customers/{customer_id}", json={"tier_override": "vip"})
    assert refused.status_code == 403
    await sign_in_as(client, "boss", Role.manager, branch_id=place.branch_id)
    raised = (await client.patch(f"/api/v1/customers/{customer_id}", json={"tier_override": "vip"})).json()
    cleared = (await client.patch(f"/api/v1/customers/{customer_id}", json={"tier_override": None})).json()

    assert (raised["membership"]["tier"], raised["membership"]["earned_tier"], raised["membership"]["benefits"]) == (
        "vip", "normal", ["生日礼", "优先预约", "免审核"],
    )
    assert (cleared["membership"]["tier"], cleared["membership"]["tier_override"]) == ("normal", None)
    assert [(e["action"], e["changed_fields"]) for e in (await audit_of(customer_id))[1:]] == [
        ("customer.updated", ["tier", "tier_override"]), ("customer.updated", ["tier", "tier_override"]),
    ]


async def test_tags_are_normalised_kept_once_bounded_and_removed_idempotently(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]
    tags = f"/api/v1/customers/{customer_id}/tags"

    added = await client.post(tags, json={"tags": [" VIP ", "ｖｉｐ", "过敏  体质"]})
    again = await client.post(tags, json={"tags": ["vip"]})
    bad = await client.post(tags, json={"tags": ["ok", "a,b", ""]})
    too_many = await client.post(tags, json={"tags": [f"t{i}" for i in range(29)]})
    removed = await client.delete(f"{tags}/VIP")
    removed_again = await client.delete(f"{tags}/vip")

    assert added.json() == {"tags": ["vip", "过敏 体质"]}
    assert again.json() == {"tags": ["vip", "过敏 体质"]}
    assert set(problems(bad)) == {"tags[1]", "tags[2]"}
    assert too_many.status_code == 422 and too_many.json()["code"] == "too_many_tags"
    assert (removed.status_code, removed_again.status_code) == (204, 204)
    assert (await customer_of(client, 1))["tags"] == ["过敏 体质"]
    entries = [(e["action"], e["changed_fields"], e["details"]) for e in (await audit_of(customer_id))[1:]]
    assert entries == [("customer.tagged", ["tags"], {"added": 2}), ("customer.untagged", ["tags"], {"removed": 1})]


async def test_notes_keep_their_author_and_page_newest_first(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "desk", Role.front_desk, branch_id=place.branch_id)
    customer_id = (await customer_of(client, 1))["id"]
    notes = f"/api/v1/customers/{customer_id}/notes"

    for body in ("第一条", "第二条", "第三条"):
        assert (await client.post(notes, json={"body": body})).status_code == 201
    first = (await client.get(notes, params={"limit": "2"})).json()
    rest = (await client.get(notes, params={"limit": "2", "cursor": first["next_cursor"]})).json()

    assert [n["body"] for n in first["items"] + rest["items"]] == ["第三条", "第二条", "第一条"]
    assert rest["next_cursor"] is None
    assert {n["author_label"] for n in first["items"]} == {"desk"}
    assert problems(await client.post(notes, json={"body": "   "})) == {"body": "required"}
    assert [e["changed_fields"] for e in await audit_of(customer_id)][1:] == [["notes"]] * 3
    assert "第" not in json.dumps([e["details"] for e in await audit_of(customer_id)], ensure_ascii=False)


async def test_staff_without_customer_permissions_are_refused(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "therapist", Role.staff, branch_id=place.branch_id)

    assert (await client.get("/api/v1/customers")).status_code == 403
    assert (await client.get("/api/v1/loyalty")).status_code == 403


async def test_personal_data_shown_in_a_list_or_a_detail_is_audited_by_field_never_by_value(
    client: httpx.AsyncClient,
) -> None:
    customer_id = await one_customer(client)  # lists customers and opens customer 1
    await client.post(f"/api/v1/customers/{customer_id}/notes", json={"body": "颈肩劳损"})
    assert (await client.get(f"/api/v1/customers/{customer_id}/notes")).status_code == 200
    assert (await client.get(f"/api/v1/customers/{customer_id}/communications")).status_code == 200

    reads = [e for e in await audit_of(customer_id, reveals=True) if e["action"] in REVEALS]
    listed = await AuditEntry.select(AuditEntry.details).where(AuditEntry.action == "customers.listed").output(load_json=True)

    assert [e["action"] for e in reads] == ["customer.viewed", "customer.notes_viewed"]
    assert "phone" in reads[0]["details"]["fields"] and reads[1]["details"] == {"count": 1, "fields": ["notes"]}
    assert listed and listed[0]["details"]["customer_ids"] == [customer_id]
    everything = json.dumps([*reads, *listed], ensure_ascii=False)
    assert "颈肩" not in everything and phone(1) not in everything and "13900000001" not in everything
