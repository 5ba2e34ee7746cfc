"""Branches over HTTP: the time zone (Asia/Shanghai unless given) and opening hours."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from appliance.audit.tables import AuditEntry
from appliance.catalog.tables import Branch
from appliance.testing.builders import sign_in_as

HOURS = {"mon": [["09:00", "12:00"], ["13:00", "21:00"]], "sat": [["10:00", "24:00"]], "sun": []}


async def test_opening_hours_are_kept_and_changed_like_any_other_field(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "boss")

    created = await client.post("/api/v1/branches", json={"name": "静安店", "timezone": "Asia/Shanghai", "opening_hours": HOURS})
    url = f"/api/v1/branches/{created.json()['id']}"
    changed = await client.patch(url, json={"opening_hours": {"mon": [["10:00", "22:00"]]}})

    assert created.status_code == 201, created.text
    assert created.json()["opening_hours"] == HOURS
    assert changed.json()["opening_hours"] == {"mon": [["10:00", "22:00"]]}
    assert (await client.get(url)).json() == changed.json()
    audits = await AuditEntry.select().where(AuditEntry.action == "branch.updated").output(load_json=True)
    assert [a["changed_fields"] for a in audits] == [["opening_hours"]]


async def test_a_branch_without_opening_hours_has_none_stated(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "boss")

    created = await client.post("/api/v1/branches", json={"name": "静安店", "timezone": "Asia/Shanghai"})

    assert created.json()["opening_hours"] == {}


async def test_a_branch_without_a_time_zone_is_in_shanghai(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "boss")

    created = await client.post("/api/v1/branches", json={"name": "静安店"})
    unknown = await client.post("/api/v1/branches", json={"name": "徐汇店", "timezone": "Mars/Olympus_Mons"})

    assert created.status_code == 201, created.text
    assert created.json()["timezone"] == "Asia/Shanghai"
    assert (await Branch.select(Branch.timezone).first()) == {"timezone": "Asia/Shanghai"}
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["timezone"]
    assert await Branch.count() == 1


BAD_HOURS: list[tuple[dict[str, Any], list[str]]] = [
    ({"mon": [["21:00", "09:00"]]}, ["opening_hours.mon[0]"]),
    ({"tue": [["09:00", "13:00"], ["12:00", "18:00"]]}, ["opening_hours.tue[1]"]),
    ({"fri": [["09:00", "09:00"]], "sat": [["09:00", "21:00"], ["09:00", "21:00"]]}, ["opening_hours.fri[0]", "opening_hours.sat[1]"]),
    ({"someday": []}, ["opening_hours"]),
]


@pytest.mark.parametrize(("hours", "fields"), BAD_HOURS, ids=[",".join(f) for _, f in BAD_HOURS])
async def test_bad_opening_hours_are_422_naming_the_interval_and_write_nothing(
    client: httpx.AsyncClient, hours: dict[str, Any], fields: list[str]
) -> None:
    await sign_in_as(client, "boss")
    created = await client.post("/api/v1/branches", json={"name": "静安店", "timezone": "Asia/Shanghai"})
    audits = await AuditEntry.count()

    on_create = await client.post("/api/v1/branches", json={"name": "徐汇店", "timezone": "Asia/Shanghai", "opening_hours": hours})
    on_update = await client.patch(f"/api/v1/branches/{created.json()['id']}", json={"opening_hours": hours})

    for response in (on_create, on_update):
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == fields
    assert await Branch.count() == 1
    assert await AuditEntry.count() == audits
    assert (await client.get(f"/api/v1/branches/{created.json()['id']}")).json()["opening_hours"] == {}
