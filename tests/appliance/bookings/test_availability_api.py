"""`GET /api/v1/availability` and its days mode on both engines: the branch and preferred-resource parameters,
the explanation of each slot's resources, and bad parameters named in a problem."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from appliance.testing.builders import make_branch, make_resource, make_service
from tests.appliance.bookings.test_api import SHANGHAI, Shop, at, next_weekday, one_day_schedule, shop  # noqa: F401 - the fixture

MASSAGE = [{"kind": "staff", "skills": ["massage"], "count": 1}]
NOBODY = "00000000-0000-4000-8000-000000000000"


async def _slots(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get("/api/v1/availability", params={k: str(v) for k, v in params.items()})


def _local(slots: list[dict[str, Any]]) -> list[str]:
    return [datetime.fromisoformat(s["starts_at"]).astimezone(SHANGHAI).strftime("%H:%M") for s in slots]


async def test_a_preferred_resource_is_used_by_every_slot_and_named_in_the_explanation(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    branch = await make_branch()
    day = next_weekday(0)
    hours = one_day_schedule(day, "09:00", "12:00")
    staff = sorted(
        [await make_resource(branch.id, kind="staff", name=n, skills=["massage"], schedule=hours) for n in ("王芳", "李娜")],
        key=lambda r: str(r.id),
    )
    first, second = staff
    service = await make_service(branch.id, duration_minutes=60, slot_step_minutes=60, requirements=MASSAGE)
    window = {"service_id": service.id, "from": at(day, "00:00"), "to": at(day + timedelta(days=1), "00:00")}
    busy = await shop.book(service.id, at(day, "10:00"), resource_ids=[str(second.id)])
    assert busy.status_code == 201, busy.text

    plain = await _slots(client, **window)
    preferred = await _slots(client, **window, resource_id=second.id)

    assert plain.status_code == preferred.status_code == 200, plain.text + preferred.text
    # Least loaded first: 王芳/李娜 with nothing booked that day comes before the one with an hour held.
    assert [(s["resource_ids"], s["explanation"]) for s in plain.json()["slots"]] == [
        ([str(first.id)], f"least loaded first: {first.name} 0 min"),
        ([str(first.id)], f"least loaded first: {first.name} 0 min"),
        ([str(first.id)], f"least loaded first: {first.name} 0 min"),
    ]
    assert _local(preferred.json()["slots"]) == ["09:00", "11:00"]  # not 10:00, when the preferred one is busy
    assert all(s["resource_ids"] == [str(second.id)] for s in preferred.json()["slots"])
    assert {s["explanation"] for s in preferred.json()["slots"]} == {f"least loaded first: {second.name} 60 min (requested)"}


async def test_branch_id_keeps_to_that_branch(shop: Shop, client: httpx.AsyncClient) -> None:
    jingan, xuhui = await make_branch("静安店"), await make_branch("徐汇店")
    await make_resource(jingan.id, kind="staff", name="王芳", skills=["massage"])
    await make_resource(xuhui.id, kind="staff", name="李娜", skills=["massage"])
    service = await make_service(jingan.id, duration_minutes=60, slot_step_minutes=60, requirements=MASSAGE)
    day = next_weekday(1)
    window = {"service_id": service.id, "from": at(day, "00:00"), "to": at(day + timedelta(days=1), "00:00")}

    own = await _slots(client, **window, branch_id=jingan.id)
    other = await _slots(client, **window, branch_id=xuhui.id)

    assert own.status_code == 200 and _local(own.json()["slots"]) == [f"{h:02d}:00" for h in range(9, 18)]
    assert other.status_code == 200 and other.json()["slots"] == []


async def test_unknown_ids_and_an_empty_window_are_problems_naming_the_field(shop: Shop, client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    service = await make_service(branch.id, requirements=MASSAGE)
    day = next_weekday(2)
    window = {"service_id": service.id, "from": at(day, "00:00"), "to": at(day + timedelta(days=1), "00:00")}

    cases = {
        "service_id": await _slots(client, **{**window, "service_id": NOBODY}),
        "branch_id": await _slots(client, **window, branch_id=NOBODY),
        "resource_id": await _slots(client, **window, resource_id=NOBODY),
        "to": await _slots(client, **{**window, "to": window["from"]}),
    }

    assert {field: r.status_code for field, r in cases.items()} == dict.fromkeys(cases, 422)
    assert {field: r.headers["content-type"].split(";")[0] for field, r in cases.items()} == dict.fromkeys(
        cases, "application/problem+json"
    )
    assert {field: [e["field"] for e in r.json()["errors"]] for field, r in cases.items()} == {f: [f] for f in cases}


async def test_the_days_mode_keeps_to_a_resource_and_a_branch_like_the_slots(shop: Shop, client: httpx.AsyncClient) -> None:
    jingan, xuhui = await make_branch("静安店"), await make_branch("徐汇店")
    first_day, second_day = next_weekday(0), next_weekday(1)  # 王芳 works the first, 李娜 the second
    wang = await make_resource(jingan.id, kind="staff", name="王芳", skills=["massage"],
                               schedule=one_day_schedule(first_day, "09:00", "12:00"))
    li = await make_resource(jingan.id, kind="staff", name="李娜", skills=["massage"],
                             schedule=one_day_schedule(second_day, "09:00", "12:00"))
    service = await make_service(jingan.id, duration_minutes=60, slot_step_minutes=60, requirements=MASSAGE)
    span = sorted([first_day, second_day])
    window = {"service_id": service.id, "from": span[0].isoformat(), "to": span[1].isoformat()}

    async def days(**params: Any) -> httpx.Response:
        return await client.get("/api/v1/availability/days", params={k: str(v) for k, v in {**window, **params}.items()})

    every, of_wang, of_li = await days(), await days(resource_id=wang.id), await days(resource_id=li.id)
    own, other, unknown = await days(branch_id=jingan.id), await days(branch_id=xuhui.id), await days(resource_id=NOBODY)

    assert every.json()["days"] == own.json()["days"] == [d.isoformat() for d in span]
    assert (of_wang.json()["days"], of_li.json()["days"]) == ([first_day.isoformat()], [second_day.isoformat()])
    assert other.status_code == 200 and other.json()["days"] == []
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["resource_id"]
