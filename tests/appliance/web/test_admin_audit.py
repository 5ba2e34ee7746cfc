"""The audit log pages on both engines: filters narrow the entries, an export downloads a bundle that
verifies, and roles without the permissions are refused."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from appliance.audit.verify import verify_bundle
from appliance.auth.roles import Role
from appliance.core.clock import utc_now
from appliance.testing.builders import make_user
from tests.appliance.audit.support import write_entries
from tests.appliance.web.ops_support import staff


def shown_actions(html: str) -> list[str]:
    return re.findall(r'<tr class="entry">\s*<td>.*?</td>\s*<td>.*?</td>\s*<td><code>([^<]+)</code>', html, re.S)


async def test_filters_narrow_the_entries_by_action_time_and_target(client: httpx.AsyncClient) -> None:
    await staff(client, "auditor", Role.compliance_officer)
    await write_entries(2, action="booking.created")
    await write_entries(1, action="booking.cancelled", start=2)
    local_now = utc_now().astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    yesterday = (local_now - timedelta(days=1)).isoformat(timespec="minutes")
    tomorrow = (local_now + timedelta(days=1)).isoformat(timespec="minutes")

    everything = await client.get("/admin/audit", params={"action": "booking.*"})
    one_target = await client.get("/admin/audit", params={"target_type": "booking", "target_id": "b-1"})
    since_yesterday = await client.get("/admin/audit", params={"action": "booking.*", "since": yesterday})
    until_yesterday = await client.get("/admin/audit", params={"action": "booking.*", "until": yesterday})
    from_tomorrow = await client.get("/admin/audit", params={"since": tomorrow})

    assert everything.status_code == 200
    assert shown_actions(everything.text) == ["booking.cancelled", "booking.created", "booking.created"]
    assert shown_actions(one_target.text) == ["booking.created"] and "b-1" in one_target.text
    assert shown_actions(since_yesterday.text) == shown_actions(everything.text)
    assert shown_actions(until_yesterday.text) == [] and shown_actions(from_tomorrow.text) == []
    assert "Asia/Shanghai" in everything.text and everything.headers["cache-control"] == "no-store"


async def test_a_time_that_is_not_one_is_said_next_to_its_input(client: httpx.AsyncClient) -> None:
    await staff(client, "auditor", Role.compliance_officer)

    wrong = await client.get("/admin/audit?lang=en", params={"since": "yesterday", "until": ""})

    assert wrong.status_code == 422
    assert 'id="since-error"' in wrong.text and 'aria-invalid="true" aria-describedby="since-error"' in wrong.text


async def test_an_export_downloads_a_bundle_that_verifies(client: httpx.AsyncClient, tmp_path: Path) -> None:
    headers = await staff(client, "auditor", Role.compliance_officer)
    await write_entries(3)

    made = await client.post("/admin/audit/export?lang=en", data={"since": "", "until": ""}, headers=headers)
    assert made.status_code == 200, made.text
    link = re.search(r'href="(/admin/audit/bundles/[0-9a-f-]+)"', made.text)
    assert link is not None and "appliance audit verify" in made.text
    download = await client.get(link.group(1))

    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    assert "attachment" in download.headers["content-disposition"]
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(download.content)
    report = verify_bundle(bundle)
    assert report.ok, report.problems
    log = await client.get("/admin/audit", params={"action": "audit.exported"})
    assert shown_actions(log.text) == ["audit.exported"]


async def test_a_made_up_bundle_is_not_found(client: httpx.AsyncClient) -> None:
    await staff(client, "auditor", Role.compliance_officer)

    missing = await client.get("/admin/audit/bundles/00000000-0000-4000-8000-000000000000")

    assert missing.status_code == 404


async def test_front_desk_may_neither_read_nor_export_the_log(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "front", Role.front_desk)

    page = await client.get("/admin/audit")
    export = await client.post("/admin/audit/export", data={}, headers=headers)

    assert page.status_code == 403 and export.status_code == 403
    assert "booking.created" not in page.text


async def test_export_is_offered_only_to_who_may_export(client: httpx.AsyncClient) -> None:
    await make_user("someone", Role.front_desk)
    await staff(client, "auditor", Role.compliance_officer)

    page = await client.get("/admin/audit?lang=en")

    assert 'hx-post="/admin/audit/export"' in page.text
    assert "someone" in page.text  # the actor filter lists users
