"""Resources over HTTP: create, list, change, schedules and time off, each scoped to the caller's branches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.catalog.tables import Resource, TimeOff
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_branch, make_resource, make_user, sign_in_as

SCHEDULE = {
    "weekly": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "tue": [["09:00", "18:00"]], "sun": []},
    "exceptions": [{"date": "2026-12-24", "intervals": []}, {"date": "2026-12-31", "intervals": [["10:00", "14:00"]]}],
    "blocks": [{"weekday": "wed", "start": "13:00", "end": "18:00"}],
}


async def written() -> tuple[int, int, int, int]:
    """Rows that a refused request must not have added: resources, time off, audit entries, events."""
    return await Resource.count(), await TimeOff.count(), await AuditEntry.count(), await OutboxEvent.count()


def error_fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


async def test_create_resource_returns_it_with_its_id_and_audits_the_write(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_user("wangfang", Role.staff, branch_id=branch.id)
    await sign_in_as(client, "boss")

    response = await client.post("/api/v1/resources", json={
        "branch_id": str(branch.id), "kind": "staff", "name": "王芳", "skills": ["massage", "facial", "massage"],
        "capacity": 1, "user_id": str(therapist.id), "post_use_lock_minutes": 10,
    })

    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": body["id"], "branch_id": str(branch.id), "kind": "staff", "name": "王芳", "skills": ["massage", "facial"],
        "capacity": 1, "active": True, "user_id": str(therapist.id), "post_use_lock_minutes": 10,
        "created_at": body["created_at"], "updated_at": body["updated_at"],
    }
    assert (await client.get(f"/api/v1/resources/{body['id']}")).json() == body
    audits = await AuditEntry.select().where(AuditEntry.action == "resource.created").output(load_json=True)
    assert [(a["target_id"], a["actor_label"], a["details"]) for a in audits] == [(body["id"], "boss", {"branch_id": str(branch.id)})]
    assert "user_id" in audits[0]["changed_fields"]
    assert await OutboxEvent.count().where(OutboxEvent.type == "resource.created") == 1


async def test_rooms_and_equipment_have_capacity_and_a_post_use_lock(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await sign_in_as(client, "boss")

    room = await client.post("/api/v1/resources", json={
        "branch_id": str(branch.id), "kind": "room", "name": "四人间", "skills": ["vip"], "capacity": 4,
        "post_use_lock_minutes": 120,
    })
    laser = await client.post("/api/v1/resources", json={"branch_id": str(branch.id), "kind": "equipment", "name": "激光仪"})

    assert room.status_code == laser.status_code == 201
    assert (room.json()["capacity"], room.json()["post_use_lock_minutes"]) == (4, 120)
    assert (laser.json()["capacity"], laser.json()["skills"], laser.json()["user_id"]) == (1, [], None)


async def test_list_filters_by_branch_kind_and_active_and_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    jingan, xuhui = await make_branch("静安店"), await make_branch("徐汇店")
    staff = [await make_resource(jingan.id, name=f"技师{i}") for i in range(3)]
    room = await make_resource(jingan.id, "room", "一号房", skills=["vip"])
    elsewhere = await make_resource(xuhui.id, name="李娜")
    await sign_in_as(client, "boss")
    await client.patch(f"/api/v1/resources/{staff[0].id}", json={"active": False})

    def names(response: httpx.Response) -> set[str]:
        assert response.status_code == 200, response.text
        return {r["name"] for r in response.json()["items"]}

    assert names(await client.get("/api/v1/resources")) == {"技师0", "技师1", "技师2", "一号房", "李娜"}
    assert names(await client.get("/api/v1/resources", params={"branch_id": str(jingan.id), "kind": "staff"})) == {"技师0", "技师1", "技师2"}
    assert names(await client.get("/api/v1/resources", params={"branch_id": str(jingan.id), "active": "true"})) == {"技师1", "技师2", "一号房"}
    assert names(await client.get("/api/v1/resources", params={"active": "false"})) == {"技师0"}
    assert names(await client.get("/api/v1/resources", params={"kind": "room"})) == {room.name}
    assert names(await client.get("/api/v1/resources", params={"branch_id": str(xuhui.id)})) == {elsewhere.name}

    first = (await client.get("/api/v1/resources", params={"branch_id": str(jingan.id), "limit": 3})).json()
    second = (await client.get("/api/v1/resources", params={"branch_id": str(jingan.id), "limit": 3, "cursor": first["next_cursor"]})).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert {r["id"] for r in first["items"] + second["items"]} == {str(r.id) for r in [*staff, room]}


async def test_patch_renames_reskills_resizes_and_deactivates_recording_only_real_changes(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    room = await make_resource(branch.id, "room", "一号房", skills=["vip"], capacity=2)
    await sign_in_as(client, "boss")

    changed = await client.patch(f"/api/v1/resources/{room.id}", json={
        "name": "贵宾房", "skills": ["vip", "sauna"], "capacity": 3, "post_use_lock_minutes": 30, "active": False,
    })
    before = await written()
    unchanged = await client.patch(f"/api/v1/resources/{room.id}", json={"name": "贵宾房", "capacity": 3})

    assert changed.status_code == 200, changed.text
    assert {k: changed.json()[k] for k in ("name", "skills", "capacity", "post_use_lock_minutes", "active")} == {
        "name": "贵宾房", "skills": ["vip", "sauna"], "capacity": 3, "post_use_lock_minutes": 30, "active": False,
    }
    assert unchanged.status_code == 200 and unchanged.json() == changed.json()
    assert await written() == before
    audits = await AuditEntry.select().where(AuditEntry.action == "resource.updated").output(load_json=True)
    assert [a["changed_fields"] for a in audits] == [["active", "capacity", "name", "post_use_lock_minutes", "skills"]]
    assert (await client.get(f"/api/v1/resources/{room.id}")).json() == changed.json()


async def test_staff_can_be_linked_to_a_user_later_and_unlinked(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    user = await make_user("wangfang", Role.staff, branch_id=branch.id)
    await sign_in_as(client, "boss")

    linked = await client.patch(f"/api/v1/resources/{therapist.id}", json={"user_id": str(user.id)})
    unlinked = await client.patch(f"/api/v1/resources/{therapist.id}", json={"user_id": None})

    assert linked.json()["user_id"] == str(user.id)
    assert unlinked.json()["user_id"] is None


async def test_staff_is_linked_only_to_someone_who_works_in_its_branch(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    elsewhere = await make_user("lina", Role.staff, branch_id=(await make_branch("徐汇店")).id)
    await sign_in_as(client, "boss")

    refused = await client.patch(f"/api/v1/resources/{therapist.id}", json={"user_id": str(elsewhere.id)})

    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["user_id"]
    assert (await client.get(f"/api/v1/resources/{therapist.id}")).json()["user_id"] is None


BAD_RESOURCES: list[tuple[dict[str, Any], str]] = [
    ({"capacity": 0}, "capacity"),
    ({"capacity": 101}, "capacity"),
    ({"post_use_lock_minutes": -1}, "post_use_lock_minutes"),
    ({"post_use_lock_minutes": 1441}, "post_use_lock_minutes"),
    ({"kind": "robot"}, "kind"),
    ({"name": ""}, "name"),
    ({"skills": ["massage", ""]}, "skills[1]"),
    ({"kind": "room", "user_id": "USER"}, "user_id"),
    ({"user_id": "00000000-0000-4000-8000-000000000001"}, "user_id"),
    ({"branch_id": "00000000-0000-4000-8000-000000000002"}, "branch_id"),
    ({"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD_RESOURCES, ids=[f for _, f in BAD_RESOURCES])
async def test_bad_resource_is_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    branch = await make_branch()
    user = await make_user("wangfang", Role.staff, branch_id=branch.id)
    await sign_in_as(client, "boss")
    body = {"branch_id": str(branch.id), "kind": "staff", "name": "王芳", **change}
    if body.get("user_id") == "USER":
        body["user_id"] = str(user.id)
    before = await written()

    response = await client.post("/api/v1/resources", json=body)

    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]
    assert await written() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [({"capacity": 0}, "capacity"), ({"name": ""}, "name"), ({"user_id": "USER"}, "user_id"), ({"kind": "staff"}, "kind")],
    ids=["capacity", "name", "user_id-on-room", "kind-is-fixed"],
)
async def test_bad_patch_is_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    branch = await make_branch()
    room = await make_resource(branch.id, "room", "一号房")
    user = await make_user("wangfang", Role.staff, branch_id=branch.id)
    await sign_in_as(client, "boss")
    if change.get("user_id") == "USER":
        change = {"user_id": str(user.id)}
    before = await written()

    response = await client.patch(f"/api/v1/resources/{room.id}", json=change)

    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]
    assert await written() == before
    assert (await client.get(f"/api/v1/resources/{room.id}")).json()["name"] == "一号房"


async def test_schedule_is_replaced_whole_and_read_back(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    await sign_in_as(client, "boss")

    response = await client.put(f"/api/v1/resources/{therapist.id}/schedule", json=SCHEDULE)
    again = await client.put(f"/api/v1/resources/{therapist.id}/schedule", json=SCHEDULE)

    assert response.status_code == 200, response.text
    assert response.json() == SCHEDULE
    assert (await client.get(f"/api/v1/resources/{therapist.id}/schedule")).json() == SCHEDULE
    stored = await Resource.select(Resource.schedule).where(Resource.id == therapist.id).output(load_json=True).first()
    assert stored is not None and stored["schedule"] == SCHEDULE
    assert again.json() == SCHEDULE
    audits = await AuditEntry.select().where(
        (AuditEntry.action == "resource.schedule_set") & (AuditEntry.actor_label == "boss")
    ).output(load_json=True)
    assert [a["changed_fields"] for a in audits] == [["schedule"]]  # the repeat changed nothing


async def test_a_new_resource_has_an_empty_schedule(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await sign_in_as(client, "boss")
    created = await client.post("/api/v1/resources", json={"branch_id": str(branch.id), "kind": "room", "name": "一号房"})

    response = await client.get(f"/api/v1/resources/{created.json()['id']}/schedule")

    assert response.json() == {"weekly": {}, "exceptions": [], "blocks": []}


BAD_SCHEDULES: list[tuple[dict[str, Any], list[str]]] = [
    ({"weekly": {"mon": [["12:00", "09:00"]]}}, ["weekly.mon[0]"]),
    ({"weekly": {"mon": [["09:00", "09:00"]]}}, ["weekly.mon[0]"]),
    ({"weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, ["weekly.mon[1]"]),
    ({"weekly": {"tue": [["13:00", "18:00"], ["09:00", "14:00"]], "sat": [["18:00", "10:00"]]}}, ["weekly.tue[1]", "weekly.sat[0]"]),
    ({"exceptions": [{"date": "2026-12-24", "intervals": []}, {"date": "2026-12-24", "intervals": [["10:00", "12:00"]]}]}, ["exceptions[1].date"]),
    ({"exceptions": [{"date": "2026-12-24", "intervals": [["10:00", "12:00"], ["11:59", "15:00"]]}]}, ["exceptions[0].intervals[1]"]),
    ({"exceptions": [{"date": "2026-12-24", "intervals": [["15:00", "10:00"]]}]}, ["exceptions[0].intervals[0]"]),
    ({"blocks": [{"weekday": "wed", "start": "18:00", "end": "13:00"}]}, ["blocks[0]"]),
    ({"weekly": {"mon": [["09:00", "25:00"]]}}, ["weekly[...][0][1]"]),  # msgspec cannot name a dict key
    ({"exceptions": [{"date": "2026-02-30"}]}, ["exceptions[0].date"]),
    ({"weekly": {"mon": [["09:00", "12:00"]]}, "holidays": []}, ["holidays"]),
]


@pytest.mark.parametrize(("schedule", "fields"), BAD_SCHEDULES, ids=[",".join(f) for _, f in BAD_SCHEDULES])
async def test_bad_schedule_is_422_naming_the_path_and_changes_nothing(
    client: httpx.AsyncClient, schedule: dict[str, Any], fields: list[str]
) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    await sign_in_as(client, "boss")
    original = (await client.get(f"/api/v1/resources/{therapist.id}/schedule")).json()
    before = await written()

    response = await client.put(f"/api/v1/resources/{therapist.id}/schedule", json=schedule)

    assert response.status_code == 422, response.text
    assert error_fields(response) == fields
    assert await written() == before
    assert (await client.get(f"/api/v1/resources/{therapist.id}/schedule")).json() == original


async def test_time_off_is_stored_in_utc_listed_by_window_and_removed(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    await sign_in_as(client, "boss")
    url = f"/api/v1/resources/{therapist.id}/time-off"

    leave = await client.post(url, json={"starts_at": "2026-12-01T09:00:00+08:00", "ends_at": "2026-12-03T18:00:00+08:00", "reason": "年假"})
    training = await client.post(url, json={"starts_at": "2026-12-10T06:00:00Z", "ends_at": "2026-12-10T08:00:00Z"})

    assert leave.status_code == 201, leave.text
    assert leave.json() == {
        "id": leave.json()["id"], "resource_id": str(therapist.id), "starts_at": "2026-12-01T01:00:00Z",
        "ends_at": "2026-12-03T10:00:00Z", "reason": "年假", "created_at": leave.json()["created_at"],
        "booking_id": None,  # staff's leave follows no booking
    }
    row = await TimeOff.select().where(TimeOff.id == leave.json()["id"]).first()
    assert row is not None and row["starts_at"] == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()]

    assert ids(await client.get(url)) == [leave.json()["id"], training.json()["id"]]
    assert ids(await client.get(url, params={"from": "2026-12-03T17:00:00+08:00"})) == [leave.json()["id"], training.json()["id"]]
    assert ids(await client.get(url, params={"from": "2026-12-03T18:00:00+08:00"})) == [training.json()["id"]]
    assert ids(await client.get(url, params={"to": "2026-12-10T14:00:00+08:00"})) == [leave.json()["id"]]
    assert ids(await client.get(url, params={"from": "2026-12-04T00:00:00+08:00", "to": "2026-12-09T00:00:00+08:00"})) == []

    removed = await client.delete(f"{url}/{leave.json()['id']}")
    again = await client.delete(f"{url}/{leave.json()['id']}")

    assert removed.status_code == 204, removed.text
    assert again.status_code == 404
    assert ids(await client.get(url)) == [training.json()["id"]]
    actions = [a["action"] for a in await AuditEntry.select().where(AuditEntry.target_type == "time_off").order_by(AuditEntry.occurred_at)]
    assert actions == ["time_off.added", "time_off.added", "time_off.removed"]
    assert await OutboxEvent.count().where(OutboxEvent.type == "time_off.removed") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "2026-12-01T18:00:00+08:00", "ends_at": "2026-12-01T09:00:00+08:00"}, "ends_at"),
        ({"starts_at": "2026-12-01T09:00:00+08:00", "ends_at": "2026-12-01T01:00:00Z"}, "ends_at"),
        ({"starts_at": "2026-12-01T09:00:00", "ends_at": "2026-12-01T18:00:00+08:00"}, "starts_at"),
        ({"starts_at": "2026-12-01T09:00:00+08:00", "ends_at": "tomorrow"}, "ends_at"),
        ({"starts_at": "2026-12-01T09:00:00+08:00", "ends_at": "2026-12-01T18:00:00+08:00", "reason": "x" * 201}, "reason"),
    ],
    ids=["ends-before-start", "ends-at-start", "no-offset", "not-a-time", "reason-too-long"],
)
async def test_bad_time_off_is_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    await sign_in_as(client, "boss")
    before = await written()

    response = await client.post(f"/api/v1/resources/{therapist.id}/time-off", json=body)

    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]
    assert await written() == before


async def test_time_off_window_bounds_need_an_offset(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    await sign_in_as(client, "boss")

    response = await client.get(f"/api/v1/resources/{therapist.id}/time-off", params={"from": "2026-12-01T00:00:00"})

    assert response.status_code == 422
    assert error_fields(response) == ["from"]


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    await sign_in_as(client, "boss")
    nobody = "00000000-0000-4000-8000-00000000dead"
    before = await written()

    responses = [
        await client.get(f"/api/v1/resources/{nobody}"),
        await client.patch(f"/api/v1/resources/{nobody}", json={"name": "x"}),
        await client.get(f"/api/v1/resources/{nobody}/schedule"),
        await client.put(f"/api/v1/resources/{nobody}/schedule", json={}),
        await client.post(f"/api/v1/resources/{nobody}/time-off", json={"starts_at": "2026-12-01T09:00:00Z", "ends_at": "2026-12-01T10:00:00Z"}),
        await client.get(f"/api/v1/resources/{nobody}/time-off"),
        await client.delete(f"/api/v1/resources/{therapist.id}/time-off/{nobody}"),
        await client.delete(f"/api/v1/resources/{nobody}/time-off/{nobody}"),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert await written() == before


async def test_time_off_of_one_resource_cannot_be_removed_through_another(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    wang, li = await make_resource(branch.id, name="王芳"), await make_resource(branch.id, name="李娜")
    await sign_in_as(client, "boss")
    leave = await client.post(f"/api/v1/resources/{wang.id}/time-off", json={"starts_at": "2026-12-01T09:00:00Z", "ends_at": "2026-12-01T10:00:00Z"})

    response = await client.delete(f"/api/v1/resources/{li.id}/time-off/{leave.json()['id']}")

    assert response.status_code == 404
    assert await TimeOff.count() == 1


async def test_a_branch_manager_neither_sees_nor_changes_another_branchs_resources(client: httpx.AsyncClient) -> None:
    mine, theirs = await make_branch("静安店"), await make_branch("徐汇店")
    own = await make_resource(mine.id, name="王芳")
    other = await make_resource(theirs.id, name="李娜")
    await make_resource(theirs.id, "room", "一号房")
    await sign_in_as(client, "mgr", Role.manager, branch_id=mine.id)
    before = await written()

    listed = await client.get("/api/v1/resources")
    filtered = await client.get("/api/v1/resources", params={"branch_id": str(theirs.id)})
    reads = [
        await client.get(f"/api/v1/resources/{other.id}"),
        await client.get(f"/api/v1/resources/{other.id}/schedule"),
        await client.get(f"/api/v1/resources/{other.id}/time-off"),
    ]
    writes = [
        await client.patch(f"/api/v1/resources/{other.id}", json={"active": False}),
        await client.put(f"/api/v1/resources/{other.id}/schedule", json={"weekly": {}}),
        await client.post(f"/api/v1/resources/{other.id}/time-off", json={"starts_at": "2026-12-01T09:00:00Z", "ends_at": "2026-12-01T10:00:00Z"}),
    ]
    create = await client.post("/api/v1/resources", json={"branch_id": str(theirs.id), "kind": "staff", "name": "张伟"})

    assert [r["name"] for r in listed.json()["items"]] == ["王芳"]
    assert filtered.json()["items"] == []
    assert [r.status_code for r in reads + writes] == [404] * 6
    assert create.status_code == 403
    assert await written() == before
    assert (await client.patch(f"/api/v1/resources/{own.id}", json={"name": "王芳芳"})).status_code == 200


async def test_front_desk_reads_the_catalog_but_cannot_change_it(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    await sign_in_as(client, "desk", Role.front_desk, branch_id=branch.id)
    before = await written()

    reads = [
        await client.get("/api/v1/resources"),
        await client.get(f"/api/v1/resources/{therapist.id}"),
        await client.get(f"/api/v1/resources/{therapist.id}/schedule"),
        await client.get(f"/api/v1/resources/{therapist.id}/time-off"),
    ]
    writes = [
        await client.post("/api/v1/resources", json={"branch_id": str(branch.id), "kind": "staff", "name": "张伟"}),
        await client.patch(f"/api/v1/resources/{therapist.id}", json={"active": False}),
        await client.put(f"/api/v1/resources/{therapist.id}/schedule", json={"weekly": {}}),
        await client.post(f"/api/v1/resources/{therapist.id}/time-off", json={"starts_at": "2026-12-01T09:00:00Z", "ends_at": "2026-12-01T10:00:00Z"}),
    ]

    assert [r.status_code for r in reads] == [200] * 4
    assert [r.status_code for r in writes] == [403] * 4
    assert await written() == before


async def test_staff_may_not_remove_time_off(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    therapist = await make_resource(branch.id)
    await sign_in_as(client, "boss")
    leave = await client.post(f"/api/v1/resources/{therapist.id}/time-off", json={"starts_at": "2026-12-01T09:00:00Z", "ends_at": "2026-12-01T10:00:00Z"})
    await sign_in_as(client, "wangfang", Role.staff, branch_id=branch.id)

    response = await client.delete(f"/api/v1/resources/{therapist.id}/time-off/{leave.json()['id']}")

    assert response.status_code == 403
    assert await TimeOff.count() == 1
