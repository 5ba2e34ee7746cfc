"""Forms over HTTP on both engines: CRUD with versions, who may do what, the portal's read, and booking
answers checked against the service's current form (staff and portal) with nothing written on error."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.bookings.tables import Booking
from appliance.catalog.schemas import Service
from appliance.customers.tables import Customer
from appliance.events.tables import OutboxEvent
from appliance.forms.tables import Form, FormVersion
from appliance.testing.builders import make_branch, make_resource, make_service, sign_in_as
from tests.appliance.bookings.test_api import at, customer, next_weekday

ALLERGY_FORM = [
    {"key": "has_allergy", "type": "checkbox", "label": {"zh-CN": "是否过敏", "en": "Any allergy?"}},
    {"key": "allergy", "type": "text", "required": True, "label": {"zh-CN": "过敏原", "en": "Allergic to"},
     "help": {"zh-CN": "如精油、坚果", "en": "e.g. oils, nuts"},
     "visible_if": {"field": "has_allergy", "op": "eq", "value": True}},
    {"key": "pressure", "type": "single_select", "required": True, "label": {"zh-CN": "力度", "en": "Pressure"},
     "options": [{"value": "soft", "label": {"zh-CN": "轻", "en": "Soft"}}, {"value": "firm", "label": {"zh-CN": "重", "en": "Firm"}}]},
    {"key": "contact", "type": "phone", "label": {"zh-CN": "紧急联系人电话", "en": "Emergency contact"}},
]


async def massage_service(**overrides: Any) -> Service:
    branch = await make_branch()
    await make_resource(branch.id)
    return await make_service(branch.id, **overrides)


async def create_form(client: httpx.AsyncClient, service_id: UUID, fields: list[dict[str, Any]] = ALLERGY_FORM) -> dict[str, Any]:
    response = await client.post("/api/v1/forms", json={"target": "service", "service_id": str(service_id), "name": "问诊", "fields": fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def written() -> tuple[int, ...]:
    return (await Booking.count(), await Customer.count(), await Form.count(), await FormVersion.count(),
            await AuditEntry.count(), await OutboxEvent.count())


def fields_of(problem: httpx.Response) -> dict[str, str]:
    assert problem.status_code == 422, problem.text
    assert problem.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in problem.json()["errors"]}


# --- CRUD and versions -----------------------------------------------------------------------------

async def test_a_form_is_created_read_and_audited(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    await sign_in_as(client, "boss")

    form = await create_form(client, service.id)

    assert (form["target"], form["service_id"], form["branch_id"], form["version"], form["active"]) == (
        "service", str(service.id), str(service.branch_id), 1, True,
    )
    assert form["fields"] == ALLERGY_FORM
    assert (await client.get(f"/api/v1/forms/{form['id']}")).json() == form
    listed = (await client.get("/api/v1/forms", params={"service_id": str(service.id)})).json()
    assert [f["id"] for f in listed["items"]] == [form["id"]]
    audits = await AuditEntry.select(AuditEntry.action, AuditEntry.target_id).where(AuditEntry.action.like("form.%"))
    assert audits == [{"action": "form.created", "target_id": form["id"]}]
    events = await OutboxEvent.select(OutboxEvent.data).where(OutboxEvent.type == "form.created").output(load_json=True)
    assert [e["data"]["version"] for e in events] == [1]


async def test_editing_the_fields_makes_a_new_version_and_the_old_one_stays_readable(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    await sign_in_as(client, "boss")
    form = await create_form(client, service.id)
    longer = [*ALLERGY_FORM, {"key": "goal", "type": "long_text", "label": {"en": "What should we focus on?"}}]

    renamed = await client.patch(f"/api/v1/forms/{form['id']}", json={"name": "问诊表"})
    edited = await client.patch(f"/api/v1/forms/{form['id']}", json={"fields": longer})
    unchanged = await client.patch(f"/api/v1/forms/{form['id']}", json={"fields": longer})
    first = await client.get(f"/api/v1/forms/{form['id']}/versions/1")
    missing = await client.get(f"/api/v1/forms/{form['id']}/versions/3")

    assert (renamed.json()["name"], renamed.json()["version"]) == ("问诊表", 1)
    assert (edited.json()["version"], edited.json()["fields"]) == (2, longer)
    assert unchanged.json()["version"] == 2
    assert first.json()["fields"] == ALLERGY_FORM and first.json()["version"] == 1
    assert missing.status_code == 404
    assert await FormVersion.count() == 2
    updates = await AuditEntry.select(AuditEntry.changed_fields).where(AuditEntry.action == "form.updated").order_by(AuditEntry.id).output(load_json=True)
    assert sorted(u["changed_fields"] for u in updates) == [["fields"], ["name"]]


async def test_archiving_frees_the_service_for_a_new_form_and_an_archived_form_is_not_edited(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    await sign_in_as(client, "boss")
    form = await create_form(client, service.id)

    second = await client.post("/api/v1/forms", json={"target": "service", "service_id": str(service.id), "name": "x", "fields": []})
    archived = await client.delete(f"/api/v1/forms/{form['id']}")
    edit = await client.patch(f"/api/v1/forms/{form['id']}", json={"name": "again"})
    replacement = await create_form(client, service.id, ALLERGY_FORM[:1])

    assert (second.status_code, second.json()["code"]) == (409, "form_exists")
    assert archived.status_code == 204
    assert (edit.status_code, edit.json()["code"]) == (409, "form_archived")
    assert (await client.get(f"/api/v1/forms/{form['id']}")).json()["active"] is False
    assert replacement["version"] == 1
    assert {f["id"] for f in (await client.get("/api/v1/forms", params={"active": "true"})).json()["items"]} == {replacement["id"]}


async def test_a_bad_definition_is_422_naming_every_field_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    await sign_in_as(client, "boss")
    before = await written()
    bad = [
        {"key": "code", "type": "text", "pattern": "(a+)+$", "label": {"en": "Code"}},
        {"key": "code", "type": "number", "min": 9, "max": 1, "label": {"en": "Again"}},
        {"key": "why", "type": "text", "label": {"en": "Why"}, "visible_if": {"field": "nope", "op": "is_set"}},
    ]

    response = await client.post("/api/v1/forms", json={"target": "service", "service_id": str(service.id), "name": "x", "fields": bad})
    typo = await client.post("/api/v1/forms", json={"target": "service", "service_id": str(service.id), "name": "x", "fields": [{"key": "A b", "type": "text", "label": {}}]})
    no_service = await client.post("/api/v1/forms", json={"target": "service", "name": "x", "fields": []})

    assert set(fields_of(response)) == {"fields[0].pattern", "fields[1].key", "fields[1].min", "fields[2].visible_if.field"}
    assert set(fields_of(typo)) == {"fields[0].key"}
    assert set(fields_of(no_service)) == {"service_id"}
    assert await written() == before


# --- Who may --------------------------------------------------------------------------------------

async def test_forms_are_authorised_like_the_catalog_of_their_branch(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    other = await make_branch("徐汇店")
    await sign_in_as(client, "boss")
    form = await create_form(client, service.id)
    client.cookies.clear()
    await sign_in_as(client, "desk", Role.front_desk, branch_id=service.branch_id)

    desk_read = await client.get(f"/api/v1/forms/{form['id']}")
    desk_write = await client.patch(f"/api/v1/forms/{form['id']}", json={"name": "mine"})
    client.cookies.clear()
    await sign_in_as(client, "elsewhere", Role.manager, branch_id=other.id)
    foreign_read = await client.get(f"/api/v1/forms/{form['id']}")
    foreign_write = await client.patch(f"/api/v1/forms/{form['id']}", json={"name": "mine"})
    foreign_create = await client.post("/api/v1/forms", json={"target": "service", "service_id": str(service.id), "name": "x", "fields": []})
    foreign_list = await client.get("/api/v1/forms")
    customers_form = await client.post("/api/v1/forms", json={"target": "customers", "name": "档案", "fields": []})

    assert desk_read.status_code == 200
    assert desk_write.status_code == 403
    assert (foreign_read.status_code, foreign_write.status_code) == (404, 404)
    assert set(fields_of(foreign_create)) == {"service_id"}
    assert foreign_list.json()["items"] == []
    assert customers_form.status_code == 403
    assert (await Form.select(Form.name).first())["name"] == "问诊"


# --- The portal's read -----------------------------------------------------------------------------

async def test_the_portal_reads_a_services_current_form_without_login(client: httpx.AsyncClient) -> None:
    service = await massage_service(channels=["web"])
    bare = await make_service(service.branch_id, name="足疗")
    staff_only = await make_service(service.branch_id, name="内部", channels=["admin"])
    await sign_in_as(client, "boss")
    form = await create_form(client, service.id)
    await create_form(client, staff_only.id)
    client.cookies.clear()

    public = await client.get(f"/api/v1/portal/services/{service.id}/form")
    none = await client.get(f"/api/v1/portal/services/{bare.id}/form")
    hidden = await client.get(f"/api/v1/portal/services/{staff_only.id}/form")
    unknown = await client.get(f"/api/v1/portal/services/{form['id']}/form")

    assert public.status_code == 200
    assert public.json() == {"service_id": str(service.id), "form_id": form["id"], "version": 1, "fields": ALLERGY_FORM}
    assert none.json() == {"service_id": str(bare.id), "form_id": None, "version": None, "fields": []}
    assert (hidden.status_code, unknown.status_code) == (404, 404)


# --- Booking answers -------------------------------------------------------------------------------

async def test_staff_booking_answers_are_stored_normalised_with_the_form_version(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    me = await sign_in_as(client, "boss")
    form = await create_form(client, service.id)
    day = next_weekday(0)

    created = await client.post("/api/v1/bookings", json={
        "service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(1),
        "answers": {"has_allergy": False, "allergy": "dropped: not asked", "pressure": "firm", "contact": "139 0013 9000"},
    }, headers={"X-CSRF-Token": me["csrf_token"]})

    assert created.status_code == 201, created.text
    booking = created.json()["booking"]
    assert booking["answers"] == {"has_allergy": False, "pressure": "firm", "contact": "+8613900139000"}
    assert (booking["form_id"], booking["form_version"]) == (form["id"], 1)
    row = await Booking.select(Booking.form, Booking.form_version).first()
    assert (str(row["form"]), row["form_version"]) == (form["id"], 1)


async def test_bad_staff_answers_are_422_naming_each_answer_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    me = await sign_in_as(client, "boss")
    await create_form(client, service.id)
    before = await written()
    body = {
        "service_id": str(service.id), "starts_at": at(next_weekday(0), "10:00"), "customer": customer(2),
        "answers": {"has_allergy": True, "pressure": "medium", "contact": "12", "shoe_size": 42},
    }

    english = await client.post("/api/v1/bookings", json=body, headers={"X-CSRF-Token": me["csrf_token"]})
    chinese = await client.post("/api/v1/bookings", json=body, headers={"X-CSRF-Token": me["csrf_token"], "Accept-Language": "zh-CN,zh;q=0.9"})

    assert fields_of(english) == {
        "answers.allergy": "required", "answers.pressure": "not one of the options",
        "answers.contact": "not a valid phone number", "answers.shoe_size": "not a question of this form",
    }
    assert fields_of(chinese)["answers.allergy"] == "此项必填"
    both = {e["field"]: e for e in english.json()["answer_errors"]}
    assert both["answers.pressure"] == {"field": "answers.pressure", "code": "not_an_option", "messages": {"zh-CN": "不是可选项", "en": "not one of the options"}}
    assert await written() == before


async def test_portal_answers_are_checked_the_same_way(client: httpx.AsyncClient) -> None:
    service = await massage_service(channels=["web"])
    await sign_in_as(client, "boss")
    form = await create_form(client, service.id)
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token")
    before = await written()
    body = {"service_id": str(service.id), "starts_at": at(next_weekday(1), "10:00"), "customer": customer(3)}

    refused = await client.post("/api/v1/portal/bookings", json={**body, "answers": {"has_allergy": True, "pressure": "soft"}})
    after_refusal = await written()
    accepted = await client.post("/api/v1/portal/bookings", json={**body, "answers": {"has_allergy": True, "allergy": " 坚果 ", "pressure": "soft"}})

    assert fields_of(refused) == {"answers.allergy": "required"}
    assert after_refusal == before
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["booking"]["answers"] == {"has_allergy": True, "allergy": "坚果", "pressure": "soft"}
    assert accepted.json()["booking"]["form_id"] == form["id"]


async def test_a_service_without_a_form_takes_no_answers(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    me = await sign_in_as(client, "boss")
    body = {"service_id": str(service.id), "starts_at": at(next_weekday(2), "10:00"), "customer": customer(4)}

    refused = await client.post("/api/v1/bookings", json={**body, "answers": {"note": "hi"}}, headers={"X-CSRF-Token": me["csrf_token"]})
    plain = await client.post("/api/v1/bookings", json=body, headers={"X-CSRF-Token": me["csrf_token"]})

    assert fields_of(refused) == {"answers.note": "not a question of this form"}
    assert plain.status_code == 201
    assert (plain.json()["booking"]["answers"], plain.json()["booking"]["form_id"], plain.json()["booking"]["form_version"]) == ({}, None, None)


async def test_old_answers_keep_their_version_and_new_bookings_meet_the_current_one(client: httpx.AsyncClient) -> None:
    service = await massage_service()
    me = await sign_in_as(client, "boss")
    form = await create_form(client, service.id)
    headers = {"X-CSRF-Token": me["csrf_token"]}
    day = next_weekday(3)
    old = await client.post("/api/v1/bookings", json={
        "service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": customer(5), "answers": {"pressure": "soft"},
    }, headers=headers)
    stricter = [*ALLERGY_FORM, {"key": "first_visit", "type": "checkbox", "required": True, "label": {"en": "First visit?"}}]
    await client.patch(f"/api/v1/forms/{form['id']}", json={"fields": stricter})

    refused = await client.post("/api/v1/bookings", json={
        "service_id": str(service.id), "starts_at": at(day, "12:00"), "customer": customer(6), "answers": {"pressure": "soft"},
    }, headers=headers)
    new = await client.post("/api/v1/bookings", json={
        "service_id": str(service.id), "starts_at": at(day, "12:00"), "customer": customer(6),
        "answers": {"pressure": "soft", "first_visit": True},
    }, headers=headers)
    kept = await client.get(f"/api/v1/bookings/{old.json()['booking']['id']}")
    its_version = await client.get(f"/api/v1/forms/{form['id']}/versions/{kept.json()['form_version']}")

    assert fields_of(refused) == {"answers.first_visit": "required"}
    assert (new.json()["booking"]["form_version"], kept.json()["form_version"]) == (2, 1)
    assert kept.json()["answers"] == {"pressure": "soft"}
    assert [f["key"] for f in its_version.json()["fields"]] == [f["key"] for f in ALLERGY_FORM]
