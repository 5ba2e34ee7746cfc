"""The loyalty programme page on both engines: settings and the tier ladder (rows, spend in yuan) replace
the programme through the loyalty action, a tier that can never be reached is named at its input and
nothing changes, and a role that may only read customers sees it without a way to change it."""

from __future__ import annotations

import httpx

from appliance.auth.roles import Role
from appliance.customers import queries
from tests.appliance.web.ops_support import staff


def tier(row: int, key: str = "", name: str = "", min_spend: str = "", min_points: str = "", benefits: str = "") -> dict[str, str]:
    given = {"key": key, "name": name, "min_spend": min_spend, "min_points": min_points, "benefits": benefits}
    return {f"tiers[{row}].{k}": v for k, v in given.items()}


async def test_the_programme_and_its_ladder_are_replaced_from_the_page(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "owner", Role.owner)

    saved = await client.post("/admin/customers/loyalty/", headers=headers, data={
        "points_per_unit": "2", "earn_on": "completed", "expiry_months": "24",
        **tier(0, "normal", "普通会员", min_spend="0"),
        **tier(1),  # blank: dropped
        **tier(2, "gold", "金卡会员", min_spend="3,000.50", min_points="5000", benefits="生日礼, 优先预约"),
    })

    assert saved.status_code == 200, saved.text
    assert saved.headers["hx-location"] == "/admin/customers/loyalty/?saved=1"
    programme = await queries.get_programme()
    assert (programme.points_per_unit, programme.earn_on, programme.expiry_months) == (2, "completed", 24)
    normal, gold = programme.tiers
    assert (normal.key, normal.min_spend) == ("normal", 0)
    assert (gold.min_spend, gold.min_points, gold.benefits) == (300050, 5000, ["生日礼", "优先预约"])
    page = await client.get("/admin/customers/loyalty/")
    assert 'value="3000.50"' in page.text and 'value="生日礼, 优先预约"' in page.text


async def test_a_tier_nobody_can_reach_is_named_at_its_input_and_nothing_changes(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "owner", Role.owner)

    refused = await client.post("/admin/customers/loyalty/?lang=en", headers=headers, data={
        "points_per_unit": "1", "earn_on": "paid", "expiry_months": "12",
        **tier(0, "normal", "普通会员", min_spend="0"), **tier(1), **tier(2, "gold", "金卡会员"),
    })

    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="tiers[2]-min_spend-error"' in refused.text
    assert (await queries.get_programme()).revision == 0


async def test_front_desk_reads_the_programme_but_cannot_change_it(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "desk", Role.front_desk)

    page = await client.get("/admin/customers/loyalty/")
    refused = await client.post("/admin/customers/loyalty/", headers=headers, data={
        "points_per_unit": "9", "earn_on": "paid", "expiry_months": "0", **tier(0, "normal", "普通会员", min_spend="0"),
    })

    assert page.status_code == 200 and "金卡会员" in page.text and "<fieldset disabled>" in page.text
    assert refused.status_code == 403
    assert (await queries.get_programme()).revision == 0
