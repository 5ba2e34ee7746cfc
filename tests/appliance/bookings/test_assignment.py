"""A service's `assignment` setting on both engines: which of the free qualifying resources its slots use,
in availability, staff bookings and portal bookings alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from appliance.testing.builders import make_branch, make_resource, make_service
from tests.appliance.bookings.test_api import Shop, at, customer, next_weekday, shop  # noqa: F401 - the fixture

MASSAGE = [{"kind": "staff", "skills": ["massage"], "count": 1}]


async def _slot_at(client: httpx.AsyncClient, service_id: object, starts_at: str) -> dict[str, Any]:
    response = await client.get("/api/v1/availability", params={
        "service_id": str(service_id), "from": starts_at,
        "to": (datetime.fromisoformat(starts_at) + timedelta(minutes=1)).isoformat(),
    })
    assert response.status_code == 200, response.text
    [slot] = response.json()["slots"]
    return dict(slot)


async def test_fixed_order_fills_the_first_resource_where_least_loaded_spreads_the_work(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    branch = await make_branch()
    first, second = sorted(
        [await make_resource(branch.id, kind="staff", name=n, skills=["massage"]) for n in ("王芳", "李娜")],
        key=lambda r: str(r.id),
    )
    service = await make_service(branch.id, duration_minutes=60, requirements=MASSAGE)
    day = next_weekday(3)
    morning = await shop.book(service.id, at(day, "10:00"), n=1, resource_ids=[str(first.id)])
    assert morning.status_code == 201, morning.text
    assert service.assignment == "least_loaded"

    spread = await _slot_at(client, service.id, at(day, "14:00"))
    changed = await client.patch(
        f"/api/v1/services/{service.id}", json={"assignment": "fixed_order"}, headers={"X-CSRF-Token": shop.csrf}
    )
    packed = await _slot_at(client, service.id, at(day, "14:00"))
    by_staff = await shop.book(service.id, at(day, "14:00"), n=2)
    by_customer = await shop.post("/api/v1/portal/bookings", {
        "service_id": str(service.id), "starts_at": at(day, "15:00"), "customer": customer(3),
    })

    assert spread["resource_ids"] == [str(second.id)]
    assert spread["explanation"] == f"least loaded first: {second.name} 0 min"
    assert changed.status_code == 200, changed.text
    assert changed.json()["assignment"] == "fixed_order"
    assert packed["resource_ids"] == [str(first.id)]
    assert packed["explanation"] == f"fixed order: {first.name} 60 min"
    assert by_staff.json()["booking"]["resource_ids"] == [str(first.id)]
    assert by_customer.status_code == 201, by_customer.text
    assert by_customer.json()["booking"]["resource_ids"] == [str(first.id)]  # though it has two hours that day
    bad = await client.patch(
        f"/api/v1/services/{service.id}", json={"assignment": "round_robin"}, headers={"X-CSRF-Token": shop.csrf}
    )
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["assignment"]
