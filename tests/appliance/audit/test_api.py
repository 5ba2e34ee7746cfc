"""The compliance officer's API on both engines: the log filtered by time, actor, action and target a page at
a time; exports as bundles that verify, each one audited; nobody else gets either."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.audit.notes import open_checkpoint
from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.audit.verify import verify_bundle
from appliance.core.clock import utc_now
from appliance.core.keyring import load_public_key_pem
from appliance.testing.builders import sign_in_as
from tests.appliance.audit.support import write_entries


async def all_pages(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = await client.get("/api/v1/audit", params={**params, "limit": "2", **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


async def test_a_compliance_officer_filters_the_log_by_action_actor_target_and_time(client: httpx.AsyncClient) -> None:
    boss = await sign_in_as(client, "boss", Role.owner)
    branch = (await client.post("/api/v1/branches", json={"name": "静安店", "timezone": "Asia/Shanghai"})).json()
    await write_entries(3, action="booking.created")
    middle = utc_now()
    await write_entries(2, action="booking.cancelled", start=3)
    await sign_in_as(client, "auditor", Role.compliance_officer)

    bookings = await all_pages(client, action="booking.*")
    by_boss = await all_pages(client, actor=boss["user"]["id"])
    branch_entries = await all_pages(client, target_type="branch", target_id=branch["id"])
    later = await all_pages(client, action="booking.*", since=middle.isoformat())
    earlier = await all_pages(client, action="booking.*", until=middle.isoformat())

    assert [e["action"] for e in bookings] == ["booking.cancelled"] * 2 + ["booking.created"] * 3  # newest first
    assert len({e["id"] for e in bookings}) == 5  # pages neither repeat nor skip
    assert [e["details"]["number"] for e in bookings] == [4, 3, 2, 1, 0]
    assert {e["action"] for e in by_boss} == {"auth.logged_in", "branch.created"}
    assert [(e["action"], e["actor_label"], e["result"]) for e in branch_entries] == [("branch.created", "boss", "success")]
    assert [e["details"]["number"] for e in later] == [4, 3]
    assert [e["details"]["number"] for e in earlier] == [2, 1, 0]
    exact = (await client.get("/api/v1/audit", params={"action": "booking.created"})).json()["items"]
    assert len(exact) == 3 and {"seq", "occurred_at", "ip", "request_id", "changed_fields"} <= set(exact[0])


async def test_a_time_without_offset_is_refused(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "auditor", Role.compliance_officer)

    response = await client.get("/api/v1/audit", params={"since": "2026-11-01T00:00:00"})
    export = await client.post("/api/v1/audit/exports", json={"until": "2026-11-01T00:00:00"})

    assert response.status_code == export.status_code == 422
    assert [(e["field"], "UTC offset" in e["message"]) for e in response.json()["errors"]] == [("since", True)]


async def test_an_export_is_a_bundle_that_verifies_and_is_itself_audited(client: httpx.AsyncClient, tmp_path: Path) -> None:
    await write_entries(4)
    auditor = await sign_in_as(client, "auditor", Role.compliance_officer)
    written = await AuditEntry.count()  # the four, and the auditor's account, second factor and sign-in

    response = await client.post("/api/v1/audit/exports", json={})

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-export-')
    bundle = tmp_path / "export.zip"
    bundle.write_bytes(response.content)
    report = verify_bundle(bundle)
    assert report.ok, report.problems
    entries = int(response.headers["x-audit-entries"])
    assert entries == written
    assert report.facts[0].startswith(f"export of seq 1–{entries} ({entries} entries)")

    [exported] = (await client.get("/api/v1/audit", params={"action": "audit.exported"})).json()["items"]
    assert exported["actor_id"] == auditor["user"]["id"] and exported["actor_kind"] == "user"
    assert exported["details"]["sha256"] == response.headers["x-audit-bundle-sha256"]
    assert exported["details"]["last_seq"] == entries

    note = (await client.get("/api/v1/audit/checkpoint")).text
    with zipfile.ZipFile(bundle) as archive:
        public_raw = load_public_key_pem(archive.read("public-key.pem"))
    assert open_checkpoint(note, public_raw).size >= entries


async def test_an_owner_may_export_and_a_time_window_narrows_the_bundle(client: httpx.AsyncClient, tmp_path: Path) -> None:
    await write_entries(2)
    since = utc_now()
    await write_entries(3, start=2)
    await sign_in_as(client, "boss", Role.owner)
    written = await AuditEntry.count()

    response = await client.post("/api/v1/audit/exports", json={"since": since.isoformat()})

    assert response.status_code == 201, response.text
    bundle = tmp_path / "window.zip"
    bundle.write_bytes(response.content)
    report = verify_bundle(bundle)
    assert report.ok, report.problems
    assert report.facts[0].startswith(f"export of seq 3–{written} ({written - 2} entries)")


@pytest.mark.parametrize("role", [Role.manager, Role.front_desk, Role.staff])
async def test_nobody_else_reads_or_exports_the_log(client: httpx.AsyncClient, role: Role) -> None:
    await sign_in_as(client, f"user-{role.value}", role)

    assert (await client.get("/api/v1/audit")).status_code == 403
    assert (await client.get("/api/v1/audit/checkpoint")).status_code == 403
    assert (await client.post("/api/v1/audit/exports", json={})).status_code == 403
