"""The booking list over HTTP, on both engines: which bookings each filter finds (resource, branch, channel,
customer), the resource filter agreeing with the resource ids each booking shows."""

from __future__ import annotations

from typing import Any

import httpx

from appliance.testing.builders import make_branch, make_resource, make_service
from tests.appliance.bookings.test_api import Shop, at, next_weekday, shop  # noqa: F401 - the fixture

MASSAGE = [{"kind": "staff", "skills": ["massage"], "count": 1}]


async def _listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/api/v1/bookings", params={k: str(v) for k, v in params.items()})
    assert response.status_code == 200, response.text
    return [b["id"] for b in response.json()["items"]]


async def test_a_booking_moved_off_a_resource_no_longer_lists_under_it(shop: Shop, client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"])
    li = await make_resource(branch.id, kind="staff", name="李娜", skills=["massage"])
    service = await make_service(branch.id, duration_minutes=60, requirements=MASSAGE)
    day = next_weekday(1)
    book = [
        (await shop.book(service.id, at(day, hhmm), n=n, resource_ids=[str(wang.id)])).json()["booking"]["id"]
        for n, hhmm in enumerate(("09:00", "11:00", "13:00", "15:00"))
    ]
    rescheduled, reassigned, cancelled, kept = book

    moved = await shop.post(
        f"/api/v1/bookings/{rescheduled}/reschedule", {"starts_at": at(day, "10:00"), "resource_ids": [str(li.id)]}
    )
    swapped = await shop.post(f"/api/v1/bookings/{reassigned}/reassign", {"resource_id": str(li.id)})
    called_off = await shop.post(f"/api/v1/bookings/{cancelled}/cancel")

    assert moved.json()["resource_ids"] == swapped.json()["resource_ids"] == [str(li.id)]
    assert called_off.json()["resource_ids"] == [str(wang.id)]  # what it held, as the booking shows it
    assert await _listed(client, resource_id=wang.id) == [cancelled, kept]
    assert await _listed(client, resource_id=li.id) == [rescheduled, reassigned]


async def test_the_list_filters_by_branch_channel_and_customer(shop: Shop, client: httpx.AsyncClient) -> None:
    jingan, xuhui = await make_branch("静安店"), await make_branch("徐汇店")
    services = []
    for branch in (jingan, xuhui):
        await make_resource(branch.id, kind="staff", name="王芳", skills=["massage"], capacity=3)
        services.append(await make_service(branch.id, duration_minutes=60, requirements=MASSAGE))
    day = next_weekday(2)
    by_phone = (await shop.book(services[0].id, at(day, "10:00"), n=1, channel="phone")).json()["booking"]
    on_web = (await shop.book(services[0].id, at(day, "11:00"), n=2, channel="web")).json()["booking"]
    elsewhere = (await shop.book(services[1].id, at(day, "12:00"), n=1, channel="phone")).json()["booking"]

    assert await _listed(client, branch_id=jingan.id) == [by_phone["id"], on_web["id"]]
    assert await _listed(client, branch_id=xuhui.id) == [elsewhere["id"]]
    assert await _listed(client, channel="phone") == [by_phone["id"], elsewhere["id"]]
    assert await _listed(client, channel="web", branch_id=xuhui.id) == []
    assert by_phone["customer_id"] == elsewhere["customer_id"] != on_web["customer_id"]
    assert await _listed(client, customer_id=by_phone["customer_id"]) == [by_phone["id"], elsewhere["id"]]
    assert await _listed(client, customer_id=on_web["customer_id"]) == [on_web["id"]]
    unknown_channel = await client.get("/api/v1/bookings", params={"channel": "fax"})
    assert unknown_channel.status_code == 422 and unknown_channel.json()["errors"][0]["field"] == "channel"
