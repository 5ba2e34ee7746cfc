"""Services over HTTP: what customers book, checked against the resources the branch actually has."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.catalog.schemas import Branch
from appliance.catalog.tables import Service
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_branch, make_resource, make_service, requirement, sign_in_as


async def written() -> tuple[int, int, int]:
    return await Service.count(), await AuditEntry.count(), await OutboxEvent.count()


def error_fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def massage_body(branch: Branch, **changes: Any) -> dict[str, Any]:
    """design.md §5's service body."""
    return {
        "branch_id": str(branch.id), "name": "精油按摩", "duration_minutes": 60, "buffer_before_minutes": 0,
        "buffer_after_minutes": 15, "price": {"amount": 19800, "currency": "CNY"}, "seats": 1,
        "requirements": [{"kind": "staff", "skills": ["massage"], "count": 1}, {"kind": "room", "skills": ["vip"], "count": 1}],
        "slot_step_minutes": 15, "min_notice_minutes": 60, "max_advance_days": 90, "requires_approval": False,
        **changes,
    }


async def spa() -> Branch:
    """A branch with two massage therapists (one also does facials), a vip room and a plain room."""
    branch = await make_branch()
    await make_resource(branch.id, name="王芳", skills=["massage", "facial"])
    await make_resource(branch.id, name="李娜", skills=["massage"])
    await make_resource(branch.id, "room", "贵宾房", skills=["vip"])
    await make_resource(branch.id, "room", "普通房", skills=[])
    return branch


async def test_create_service_returns_it_with_its_id_and_audits_the_write(client: httpx.AsyncClient) -> None:
    branch = await spa()
    await sign_in_as(client, "boss")

    response = await client.post("/api/v1/services", json=massage_body(branch, channels=["web", "wechat"], customer_picks_staff=True))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        **massage_body(branch), "id": body["id"], "description": "", "channels": ["web", "wechat"],
        "customer_picks_staff": True, "cancel_cutoff_minutes": 120, "reschedule_cutoff_minutes": 120,
        "assignment": "least_loaded", "active": True,
        "created_at": body["created_at"], "updated_at": body["updated_at"],
    }
    assert (await client.get(f"/api/v1/services/{body['id']}")).json() == body
    audits = await AuditEntry.select().where(AuditEntry.action == "service.created").output(load_json=True)
    assert [(a["target_id"], a["actor_label"]) for a in audits] == [(body["id"], "boss")]
    assert {"price", "requirements", "duration_minutes"} <= set(audits[0]["changed_fields"])
    events = await OutboxEvent.select().where(OutboxEvent.type == "service.created").output(load_json=True)
    assert [e["data"]["price"] for e in events] == [{"amount": 19800, "currency": "CNY"}]
    row = await Service.select(Service.price_amount, Service.price_currency).first()
    assert row == {"price_amount": 19800, "price_currency": "CNY"}


async def test_duration_need_not_be_a_multiple_of_the_slot_step(client: httpx.AsyncClient) -> None:
    branch = await spa()
    await sign_in_as(client, "boss")

    response = await client.post("/api/v1/services", json=massage_body(branch, duration_minutes=50, slot_step_minutes=15))

    assert response.status_code == 201, response.text
    assert (response.json()["duration_minutes"], response.json()["slot_step_minutes"]) == (50, 15)


async def test_a_group_class_needs_only_its_resources_once(client: httpx.AsyncClient) -> None:
    branch = await spa()
    await sign_in_as(client, "boss")

    response = await client.post("/api/v1/services", json=massage_body(
        branch, name="瑜伽课", seats=12, requirements=[{"kind": "staff", "skills": [], "count": 1}, {"kind": "room", "count": 2}],
        channels=[], customer_picks_staff=False, requires_approval=True, cancel_cutoff_minutes=1440, description="每周三晚",
    ))

    assert response.status_code == 201, response.text
    assert {k: response.json()[k] for k in ("seats", "channels", "requires_approval", "cancel_cutoff_minutes")} == {
        "seats": 12, "channels": [], "requires_approval": True, "cancel_cutoff_minutes": 1440,
    }


BAD_SERVICES: list[tuple[dict[str, Any], list[str]]] = [
    ({"duration_minutes": 0}, ["duration_minutes"]),
    ({"duration_minutes": -30}, ["duration_minutes"]),
    ({"duration_minutes": 4}, ["duration_minutes"]),
    ({"duration_minutes": 1441}, ["duration_minutes"]),
    ({"buffer_before_minutes": -1}, ["buffer_before_minutes"]),
    ({"buffer_after_minutes": 721}, ["buffer_after_minutes"]),
    ({"seats": 0}, ["seats"]),
    ({"seats": 501}, ["seats"]),
    ({"requirements": []}, ["requirements"]),
    ({"requirements": [{"kind": "staff"}] * 11}, ["requirements"]),
    ({"requirements": [{"kind": "staff", "count": 0}]}, ["requirements[0].count"]),
    ({"requirements": [{"kind": "robot"}]}, ["requirements[0].kind"]),
    ({"slot_step_minutes": 0}, ["slot_step_minutes"]),
    ({"slot_step_minutes": 4}, ["slot_step_minutes"]),
    ({"slot_step_minutes": 1441}, ["slot_step_minutes"]),
    ({"min_notice_minutes": -1}, ["min_notice_minutes"]),
    ({"min_notice_minutes": 3 * 1440, "max_advance_days": 3}, ["min_notice_minutes"]),
    ({"max_advance_days": 0}, ["max_advance_days"]),
    ({"max_advance_days": 731}, ["max_advance_days"]),
    ({"cancel_cutoff_minutes": -1}, ["cancel_cutoff_minutes"]),
    ({"reschedule_cutoff_minutes": -5}, ["reschedule_cutoff_minutes"]),
    ({"channels": ["web", "fax"]}, ["channels[1]"]),
    ({"channels": ["web", "api", "web"]}, ["channels[2]"]),
    ({"price": {"amount": -1, "currency": "CNY"}}, ["price.amount"]),
    ({"price": {"amount": 2**31, "currency": "CNY"}}, ["price.amount"]),
    ({"price": {"amount": 100, "currency": "rmb"}}, ["price.currency"]),
    ({"name": ""}, ["name"]),
    ({"colour": "blue"}, ["colour"]),
    ({"assignment": "round_robin"}, ["assignment"]),
    ({"branch_id": "00000000-0000-4000-8000-000000000002"}, ["branch_id"]),
    ({"requirements": [{"kind": "room"}], "customer_picks_staff": True}, ["customer_picks_staff"]),
    ({"requirements": [{"kind": "staff", "skills": ["massage"], "count": 3}]}, ["requirements[0]"]),
    ({"requirements": [{"kind": "staff", "skills": ["massage"]}, {"kind": "room", "skills": ["sauna"]}]}, ["requirements[1]"]),
    ({"requirements": [{"kind": "equipment"}]}, ["requirements[0]"]),
    # Both therapists do massage, but only one also does facials: the facial place takes her.
    ({"requirements": [{"kind": "staff", "skills": ["facial"]}, {"kind": "staff", "skills": ["massage"], "count": 2}]}, ["requirements[1]"]),
]


@pytest.mark.parametrize(("change", "fields"), BAD_SERVICES, ids=[f"{i}-{','.join(f)}" for i, (_, f) in enumerate(BAD_SERVICES)])
async def test_bad_service_is_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, change: dict[str, Any], fields: list[str]
) -> None:
    branch = await spa()
    await sign_in_as(client, "boss")
    before = await written()

    response = await client.post("/api/v1/services", json=massage_body(branch, **change))

    assert response.status_code == 422, response.text
    assert error_fields(response) == fields
    assert await written() == before


async def test_unmet_requirements_say_what_is_missing(client: httpx.AsyncClient) -> None:
    branch = await spa()
    await sign_in_as(client, "boss")

    response = await client.post("/api/v1/services", json=massage_body(
        branch, requirements=[{"kind": "staff", "skills": ["massage"], "count": 3}, {"kind": "room", "skills": ["vip", "sauna"]}],
    ))

    assert response.json()["errors"] == [
        {"field": "requirements[0]", "message": "needs 3 active staff members with the skill massage in this branch, but the branch has 2"},
        {"field": "requirements[1]", "message": "needs 1 active room with the skills sauna, vip in this branch, but the branch has none"},
    ]


async def test_inactive_resources_and_other_branches_do_not_meet_requirements(client: httpx.AsyncClient) -> None:
    branch, other = await make_branch("静安店"), await make_branch("徐汇店")
    retired = await make_resource(branch.id, "room", "贵宾房", skills=["vip"])
    await make_resource(other.id, "room", "贵宾房", skills=["vip"])
    await make_resource(branch.id, name="王芳")
    await sign_in_as(client, "boss")
    await client.patch(f"/api/v1/resources/{retired.id}", json={"active": False})

    response = await client.post("/api/v1/services", json=massage_body(branch))

    assert response.status_code == 422
    assert error_fields(response) == ["requirements[1]"]


async def test_list_filters_by_branch_and_active_and_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    jingan, xuhui = await spa(), await make_branch("徐汇店")
    await make_resource(xuhui.id)
    services = [await make_service(jingan.id, f"按摩{i}") for i in range(3)]
    await make_service(xuhui.id, "足疗")
    await sign_in_as(client, "boss")
    await client.patch(f"/api/v1/services/{services[0].id}", json={"active": False})

    def names(response: httpx.Response) -> set[str]:
        assert response.status_code == 200, response.text
        return {s["name"] for s in response.json()["items"]}

    assert names(await client.get("/api/v1/services")) == {"按摩0", "按摩1", "按摩2", "足疗"}
    assert names(await client.get("/api/v1/services", params={"branch_id": str(jingan.id), "active": "true"})) == {"按摩1", "按摩2"}
    assert names(await client.get("/api/v1/services", params={"active": "false"})) == {"按摩0"}
    assert names(await client.get("/api/v1/services", params={"branch_id": str(xuhui.id)})) == {"足疗"}
    first = (await client.get("/api/v1/services", params={"limit": 2})).json()
    second = (await client.get("/api/v1/services", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert len(first["items"]) == 2 and second["next_cursor"] is None
    assert len({s["id"] for s in first["items"] + second["items"]}) == 4


async def test_patch_changes_fields_and_records_only_real_changes(client: httpx.AsyncClient) -> None:
    branch = await spa()
    service = await make_service(branch.id, requirements=[requirement("staff", "massage")])
    await sign_in_as(client, "boss")

    changed = await client.patch(f"/api/v1/services/{service.id}", json={
        "price": {"amount": 25800, "currency": "CNY"}, "duration_minutes": 90, "name": "精油按摩",
        "requirements": [{"kind": "staff", "skills": ["massage"]}, {"kind": "room", "skills": ["vip"]}],
    })
    before = await written()
    unchanged = await client.patch(f"/api/v1/services/{service.id}", json={"duration_minutes": 90})

    assert changed.status_code == 200, changed.text
    assert changed.json()["price"] == {"amount": 25800, "currency": "CNY"}
    assert changed.json()["requirements"] == [
        {"kind": "staff", "skills": ["massage"], "count": 1}, {"kind": "room", "skills": ["vip"], "count": 1},
    ]
    assert unchanged.json() == changed.json()
    assert await written() == before
    audits = await AuditEntry.select().where(AuditEntry.action == "service.updated").output(load_json=True)
    assert [a["changed_fields"] for a in audits] == [["duration_minutes", "price", "requirements"]]
    assert (await client.get(f"/api/v1/services/{service.id}")).json() == changed.json()


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"requirements": [{"kind": "staff", "skills": ["massage"], "count": 3}]}, ["requirements[0]"]),
        ({"customer_picks_staff": True, "requirements": [{"kind": "room"}]}, ["customer_picks_staff"]),
        ({"max_advance_days": 1, "min_notice_minutes": 1440}, ["min_notice_minutes"]),
        ({"min_notice_minutes": 2 * 1440}, ["min_notice_minutes"]),  # merged with max_advance_days=1 below
        ({"duration_minutes": 0}, ["duration_minutes"]),
        ({"duration_minutes": -60}, ["duration_minutes"]),
        ({"branch_id": "00000000-0000-4000-8000-000000000002"}, ["branch_id"]),
    ],
    ids=["unmet", "picks-staff", "notice-vs-advance", "notice-vs-stored-advance", "duration", "negative-duration", "branch-is-fixed"],
)
async def test_patch_revalidates_the_merged_service_and_changes_nothing_when_bad(
    client: httpx.AsyncClient, change: dict[str, Any], fields: list[str]
) -> None:
    branch = await spa()
    service = await make_service(branch.id, max_advance_days=1)
    await sign_in_as(client, "boss")
    before = await written()

    response = await client.patch(f"/api/v1/services/{service.id}", json=change)

    assert response.status_code == 422, response.text
    assert error_fields(response) == fields
    assert await written() == before


async def test_a_service_whose_staff_left_can_be_retired_but_not_changed_while_active(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    service = await make_service(branch.id)
    await sign_in_as(client, "boss")
    await client.patch(f"/api/v1/resources/{therapist.id}", json={"active": False})

    renamed = await client.patch(f"/api/v1/services/{service.id}", json={"name": "泰式按摩"})
    retired = await client.patch(f"/api/v1/services/{service.id}", json={"active": False})
    revived = await client.patch(f"/api/v1/services/{service.id}", json={"active": True})

    assert renamed.status_code == 422 and error_fields(renamed) == ["requirements[0]"]
    assert retired.status_code == 200 and retired.json()["active"] is False
    assert revived.status_code == 422 and error_fields(revived) == ["requirements[0]"]


async def test_a_branch_manager_neither_sees_nor_changes_another_branchs_services(client: httpx.AsyncClient) -> None:
    mine, theirs = await spa(), await spa()
    own = await make_service(mine.id, "精油按摩")
    other = await make_service(theirs.id, "足疗")
    await sign_in_as(client, "mgr", Role.manager, branch_id=mine.id)
    before = await written()

    listed = await client.get("/api/v1/services")
    read = await client.get(f"/api/v1/services/{other.id}")
    patched = await client.patch(f"/api/v1/services/{other.id}", json={"active": False})
    created = await client.post("/api/v1/services", json=massage_body(theirs))

    assert [s["name"] for s in listed.json()["items"]] == ["精油按摩"]
    assert (read.status_code, patched.status_code, created.status_code) == (404, 404, 403)
    assert await written() == before
    assert (await client.patch(f"/api/v1/services/{own.id}", json={"seats": 2})).status_code == 200
    assert (await client.post("/api/v1/services", json=massage_body(mine))).status_code == 201


async def test_front_desk_reads_services_but_cannot_change_them(client: httpx.AsyncClient) -> None:
    branch = await spa()
    service = await make_service(branch.id)
    await sign_in_as(client, "desk", Role.front_desk, branch_id=branch.id)
    before = await written()

    listed = await client.get("/api/v1/services", params={"branch_id": str(branch.id)})
    read = await client.get(f"/api/v1/services/{service.id}")
    created = await client.post("/api/v1/services", json=massage_body(branch))
    patched = await client.patch(f"/api/v1/services/{service.id}", json={"name": "x"})

    assert (listed.status_code, read.status_code) == (200, 200)
    assert len(listed.json()["items"]) == 1
    assert (created.status_code, patched.status_code) == (403, 403)
    assert await written() == before


async def test_unknown_service_is_404(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "boss")
    nobody = "00000000-0000-4000-8000-00000000dead"

    assert (await client.get(f"/api/v1/services/{nobody}")).status_code == 404
    assert (await client.patch(f"/api/v1/services/{nobody}", json={"name": "x"})).status_code == 404
