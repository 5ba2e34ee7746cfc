"""The loyalty programme and membership tiers on both engines: the built-in defaults, edits checked and
audited, tiers recomputed as facts and points change (a staff override standing), a new ladder re-ranking
everyone, and what the programme says about earning."""

from __future__ import annotations

from typing import Any

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.testing.builders import sign_in_as
from tests.appliance.customers.support import PRICE, audit_of, book, complete, customer_of, pay, shop
from tests.appliance.notifications.support import problems

LOW_LADDER = [
    {"key": "normal", "name": "普通", "min_spend": 0},
    {"key": "silver", "name": "银卡", "min_spend": PRICE},
    {"key": "gold", "name": "金卡", "min_spend": 3 * PRICE, "min_points": 1000, "benefits": ["优先预约"]},
]


def programme(**changes: Any) -> dict[str, Any]:
    return {"points_per_unit": 1, "earn_on": "paid", "expiry_months": 12, "tiers": LOW_LADDER, **changes}


async def membership(client: httpx.AsyncClient, n: int) -> tuple[str | None, str | None]:
    view = await customer_of(client, n)
    return view["membership"]["tier"], view["membership"]["earned_tier"]


async def test_the_built_in_programme_applies_until_edited_and_edits_are_audited_whole(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner")
    defaults = (await client.get("/api/v1/loyalty")).json()

    saved = await client.put("/api/v1/loyalty", json=programme())
    unchanged = await client.put("/api/v1/loyalty", json=programme())

    assert (defaults["points_per_unit"], defaults["earn_on"], defaults["expiry_months"], defaults["revision"]) == (1, "paid", 12, 0)
    assert [t["key"] for t in defaults["tiers"]] == ["normal", "silver", "gold", "vip"]
    assert saved.status_code == 200 and saved.json()["revision"] == 1
    assert unchanged.json()["revision"] == 1
    assert [t["key"] for t in (await client.get("/api/v1/loyalty")).json()["tiers"]] == ["normal", "silver", "gold"]
    [entry] = await AuditEntry.select(AuditEntry.changed_fields, AuditEntry.details).where(
        AuditEntry.action == "loyalty.updated"
    ).output(load_json=True)
    assert entry["changed_fields"] == ["tiers"]
    assert entry["details"]["before"]["revision"] == 0 and len(entry["details"]["after"]["tiers"]) == 3


async def test_a_programme_is_checked_by_path_and_changed_only_with_loyalty_manage_everywhere(client: httpx.AsyncClient) -> None:
    place = await shop()
    await sign_in_as(client, "owner")
    bad = await client.put("/api/v1/loyalty", json=programme(tiers=[{"key": "Gold", "name": "金卡"}]))
    await sign_in_as(client, "branch.boss", Role.manager, branch_id=place.branch_id)
    scoped = await client.put("/api/v1/loyalty", json=programme())
    await sign_in_as(client, "desk", Role.front_desk, branch_id=place.branch_id)
    desk = await client.put("/api/v1/loyalty", json=programme())

    assert problems(bad) == {
        "tiers[0].key": "a lower-case name of letters, digits and _, starting with a letter (≤ 32)",
        "tiers[0].min_spend": "set min_spend, min_points or both",
    }
    assert (scoped.status_code, desk.status_code) == (403, 403)
    assert (await client.get("/api/v1/loyalty")).json()["revision"] == 0


async def test_the_tier_follows_lifetime_value_at_once_and_a_staff_override_stands(client: httpx.AsyncClient) -> None:
    place = await shop()
    await sign_in_as(client, "owner")
    assert (await client.put("/api/v1/loyalty", json=programme())).status_code == 200
    visits = [await book(place.service_id, 2, hour, 1) for hour in (10, 12, 14)]
    other = await book(place.service_id, 2, 16, 2)
    second = (await customer_of(client, 2))["id"]
    await client.patch(f"/api/v1/customers/{second}", json={"tier_override": "gold"})

    await complete(visits[0])
    assert await membership(client, 1) == ("silver", "silver")
    await complete(visits[1])
    await complete(visits[2])
    await complete(other)

    assert await membership(client, 1) == ("gold", "gold")
    assert await membership(client, 2) == ("gold", "silver")  # overridden: only the earned tier moves
    changes = [(e["action"], e["actor_id"], e["changed_fields"], e["details"]) for e in await audit_of((await customer_of(client, 1))["id"])]
    assert [c for c in changes if c[0] == "customer.tier_changed"] == [
        ("customer.tier_changed", "loyalty", ["earned_tier", "tier"], {}),
        ("customer.tier_changed", "loyalty", ["earned_tier", "tier"], {}),
    ]
    assert [e["changed_fields"] for e in await audit_of(second) if e["action"] == "customer.tier_changed"] == [["earned_tier"]]


async def test_a_new_ladder_reranks_everyone_and_cannot_drop_a_tier_staff_set(client: httpx.AsyncClient) -> None:
    place = await shop()
    await complete(await book(place.service_id, 2, 10, 1))
    await book(place.service_id, 2, 12, 2)
    await sign_in_as(client, "owner")
    assert (await membership(client, 1), await membership(client, 2)) == (("normal", "normal"), ("normal", "normal"))
    third = (await customer_of(client, 2))["id"]
    await client.patch(f"/api/v1/customers/{third}", json={"tier_override": "vip"})

    dropped = await client.put("/api/v1/loyalty", json=programme())
    await client.patch(f"/api/v1/customers/{third}", json={"tier_override": None})
    saved = await client.put("/api/v1/loyalty", json=programme())

    assert problems(dropped) == {"tiers": "staff set tier vip on customers; clear those overrides first"}
    assert saved.status_code == 200
    assert (await membership(client, 1), await membership(client, 2)) == (("silver", "silver"), ("normal", "normal"))
    [entry] = await AuditEntry.select(AuditEntry.details).where(AuditEntry.action == "loyalty.updated").output(load_json=True)
    assert entry["details"]["tiers_changed"] == 1


async def test_points_tiers_count_points_earned_and_bookings_earn_as_the_programme_says(client: httpx.AsyncClient) -> None:
    place = await shop()
    await sign_in_as(client, "owner")
    await client.put("/api/v1/loyalty", json=programme(points_per_unit=3, earn_on="completed", expiry_months=0))
    booking_id = await book(place.service_id, 2, 10, 1)
    customer_id = (await customer_of(client, 1))["id"]

    await complete(booking_id)
    await pay(booking_id)  # earned at completion already
    page = (await client.get(f"/api/v1/customers/{customer_id}/points")).json()["items"]
    await client.post(f"/api/v1/customers/{customer_id}/points/redeem", json={"points": 500})
    await client.post(f"/api/v1/customers/{customer_id}/points/adjust", json={"points": 406, "reason": "活动"})

    assert [(e["kind"], e["points"], e["expires_at"]) for e in page] == [("earn", 3 * PRICE // 100, None)]
    # 594 + 406 points earned reach gold's 1,000 whatever was redeemed meanwhile.
    assert await membership(client, 1) == ("gold", "gold")
