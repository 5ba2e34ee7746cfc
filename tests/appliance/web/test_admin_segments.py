"""The saved segments pages on both engines: a segment is written as a filter form (money in yuan, days in
China Standard Time) and saved through the segment actions, a wrong range is named at its input and
nothing is saved, the list says how many customers match, and a role without customer rights is refused."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from appliance.auth.roles import Role
from appliance.customers import queries
from appliance.customers.tables import Segment
from tests.appliance.web.ops_support import staff

SHANGHAI = ZoneInfo("Asia/Shanghai")


def segment_form(**inputs: str) -> dict[str, str | list[str]]:
    return {"key": "big-spenders", "name": "高消费客户", "tags_all": "VIP, 常客", "points_min": "100",
            "lifetime_value_min": "5,000.50", "last_visit_after": "2026-01-01", "consent.marketing": "agreed",
            "consent.sms": "", "tiers": ["gold", "vip"], **inputs}


async def test_a_segment_is_saved_from_the_filter_form_and_listed_with_its_count(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.manager)

    saved = await client.post("/admin/customers/segments", headers=headers, data=segment_form())

    assert saved.status_code == 200, saved.text
    [segment] = await queries.list_segments()
    assert saved.headers["hx-location"] == f"/admin/customers/segments/{segment.id}"
    found = segment.filter
    assert found.tags_all == ("vip", "常客") and found.tiers == ("gold", "vip")
    assert found.points_min == 100 and found.lifetime_value_min == 500050
    assert found.last_visit_after == datetime(2026, 1, 1, tzinfo=SHANGHAI)
    assert found.consent == {"marketing": True}
    listing = await client.get("/admin/customers/segments")
    assert "高消费客户" in listing.text and "big-spenders" in listing.text
    page = await client.get(f"/admin/customers/segments/{segment.id}")
    assert 'value="5000.50"' in page.text and 'value="2026-01-01"' in page.text
    assert f'href="/api/v1/segments/{segment.id}/export"' not in page.text  # a manager may not export customers
    csv = await client.get(f"/api/v1/segments/{segment.id}/export")
    assert csv.status_code == 403


async def test_a_wrong_range_is_named_at_its_input_and_nothing_is_saved(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.manager)

    refused = await client.post("/admin/customers/segments?lang=en", headers=headers,
                                data=segment_form(points_max="50"))
    not_a_number = await client.post("/admin/customers/segments?lang=en", headers=headers,
                                      data=segment_form(visit_count_min="many"))

    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="points_max-error"' in refused.text
    assert not_a_number.status_code == 422
    assert 'aria-describedby="visit_count_min-error"' in not_a_number.text and 'value="many"' in not_a_number.text
    assert await Segment.count() == 0


async def test_staff_without_customer_rights_are_refused(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "therapist", Role.staff)

    assert (await client.get("/admin/customers/segments")).status_code == 403
    refused = await client.post("/admin/customers/segments", headers=headers, data=segment_form())
    assert refused.status_code == 403
    assert await Segment.count() == 0


async def test_an_owner_downloads_a_segments_customers_from_its_page(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "owner", Role.owner)
    await client.post("/admin/customers/segments", headers=headers, data=segment_form())
    [segment] = await queries.list_segments()

    page = await client.get(f"/admin/customers/segments/{segment.id}")
    csv = await client.get(f"/api/v1/segments/{segment.id}/export")

    assert f'href="/api/v1/segments/{segment.id}/export" download' in page.text
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
