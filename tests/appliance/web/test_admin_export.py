"""The owner's data export page on both engines: it offers the export (done by the export API, which the
page's script calls) and lists the exports made before from the audit log; others are refused."""

from __future__ import annotations

import httpx

from appliance.auth.roles import Role
from tests.appliance.web.ops_support import staff


async def test_the_page_offers_the_export_and_lists_those_made_before(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "boss", Role.owner)
    before = await client.get("/admin/export?lang=en")

    made = await client.post("/api/v1/exports", json={}, headers=headers)
    after = await client.get("/admin/export?lang=en")

    assert before.status_code == 200 and 'data-export-url="/api/v1/exports"' in before.text
    assert '<script src="/static/admin/export.js" defer></script>' in before.text
    assert 'class="past-export"' not in before.text
    assert made.status_code == 200 and made.content[:4] == b"PK\x03\x04"
    assert after.text.count('class="past-export"') == 1 and "boss" in after.text


async def test_a_manager_may_not_export_everything(client: httpx.AsyncClient) -> None:
    await staff(client, "mgr", Role.manager)

    assert (await client.get("/admin/export")).status_code == 403
