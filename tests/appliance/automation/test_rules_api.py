"""Rules through the HTTP API on both engines: validation naming every problem, audited changes with
before and after, branch authority, and the dry run on a real booking."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.automation.tables import Rule
from appliance.bookings.actions import NewBooking, create_booking
from appliance.customers.schemas import CustomerContact
from appliance.testing.builders import make_branch, make_resource, make_service, sign_in_as

SHANGHAI = ZoneInfo("Asia/Shanghai")

VIP_AUTO_APPROVE: dict[str, Any] = {
    "name": "VIP 自动审批", "trigger": {"event": "booking.created"},
    "conditions": {"all": [
        {"field": "booking.status", "op": "eq", "value": "pending_approval"},
        {"field": "booking.channel", "op": "in", "value": ["web", "wechat"]},
        {"field": "booking.hour", "op": "between", "value": [9, 12]},
    ]},
    "actions": [{"type": "auto_approve"}, {"type": "emit_event", "event": "custom.vip_approved"}],
}


async def test_a_rule_is_created_changed_and_deleted_with_before_and_after_audited(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner")
    created = await client.post("/api/v1/rules", json=VIP_AUTO_APPROVE)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["revision"] == 1 and rule["enabled"] and rule["branch_id"] is None

    changed = await client.patch(f"/api/v1/rules/{rule['id']}", json={"priority": 10, "enabled": False})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["priority"], changed.json()["enabled"], changed.json()["revision"]) == (10, False, 2)
    assert (await client.patch(f"/api/v1/rules/{rule['id']}", json={"priority": 10})).json()["revision"] == 2

    assert (await client.delete(f"/api/v1/rules/{rule['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/rules/{rule['id']}")).status_code == 404

    entries = await AuditEntry.select(AuditEntry.action, AuditEntry.details, AuditEntry.changed_fields).where(
        AuditEntry.target_id == rule["id"]
    ).order_by(AuditEntry.occurred_at).output(load_json=True)
    assert [e["action"] for e in entries] == ["rule.created", "rule.updated", "rule.deleted"]
    update = entries[1]
    assert update["changed_fields"] == ["enabled", "priority"]
    assert (update["details"]["before"]["priority"], update["details"]["after"]["priority"]) == (100, 10)
    assert entries[2]["details"]["after"] is None and entries[2]["details"]["before"]["name"] == "VIP 自动审批"


async def test_every_problem_of_a_rule_is_named_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner")
    bad = {
        "name": "坏规则", "trigger": {"timer": {"anchor": "starts_at", "offset_minutes": "a day"}},
        "conditions": {"all": [{"field": "customer.tierr", "op": "eq", "value": "gold"},
                               {"field": "booking.seats", "op": "gt", "value": "two"}]},
        "actions": [{"type": "set_status", "status": "teleported"}, {"type": "launch_rocket"}],
    }

    response = await client.post("/api/v1/rules", json=bad)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"trigger.timer.offset_minutes", "conditions.all[0].field", "conditions.all[1].value",
            "actions[0].status", "actions[1].type"} <= fields
    assert await Rule.count() == 0


async def test_a_branch_manager_manages_its_branch_rules_only(client: httpx.AsyncClient) -> None:
    mine, theirs = await make_branch("静安店"), await make_branch("徐汇店")
    await sign_in_as(client, "manager", Role.manager, branch_id=mine.id)

    assert (await client.post("/api/v1/rules", json={**VIP_AUTO_APPROVE, "branch_id": str(mine.id)})).status_code == 201
    assert (await client.post("/api/v1/rules", json={**VIP_AUTO_APPROVE, "branch_id": str(theirs.id)})).status_code == 403
    assert (await client.post("/api/v1/rules", json=VIP_AUTO_APPROVE)).status_code == 403  # every branch
    await sign_in_as(client, "desk", Role.front_desk)
    assert (await client.get("/api/v1/rules")).status_code == 403
    assert await Rule.count() == 1


async def test_the_dry_run_shows_which_conditions_held_on_a_real_booking(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id, requires_approval=True)
    day = datetime.now(SHANGHAI).date() + timedelta(days=7)
    created = await create_booking(
        NewBooking(service_id=service.id, starts_at=datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI),
                   customer=CustomerContact(name="李雷", phone="+8613800001111"), channel="web"),
        actor=cli_actor(), staff=True,
    )
    await sign_in_as(client, "owner")
    rule = (await client.post("/api/v1/rules", json=VIP_AUTO_APPROVE)).json()

    result = await client.post(f"/api/v1/rules/{rule['id']}/test", json={"booking_id": str(created.booking.id)})
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["trigger_matches"] and body["conditions_held"]
    assert [(c["field"], c["actual"], c["held"]) for c in body["conditions"]] == [
        ("booking.status", "pending_approval", True), ("booking.channel", "web", True), ("booking.hour", 10, True),
    ]
    assert [a["type"] for a in body["would_run"]] == ["auto_approve", "emit_event"]

    other = await client.post(
        f"/api/v1/rules/{rule['id']}/test", json={"booking_id": str(created.booking.id), "event_type": "booking.cancelled"}
    )
    assert other.json()["trigger_matches"] is False and other.json()["would_run"] == []
    missing = await client.post(f"/api/v1/rules/{rule['id']}/test", json={"booking_id": str(rule["id"])})
    assert missing.status_code == 404


async def test_rules_are_listed_in_run_order_page_by_page(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner")
    for priority in (30, 10, 20):
        created = await client.post("/api/v1/rules", json={**VIP_AUTO_APPROVE, "name": f"p{priority}", "priority": priority})
        assert created.status_code == 201, created.text

    first = (await client.get("/api/v1/rules", params={"limit": 2})).json()
    second = (await client.get("/api/v1/rules", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    bad = await client.get("/api/v1/rules", params={"cursor": "bm90LWEtY3Vyc29y"})

    assert [r["name"] for r in first["items"]] == ["p10", "p20"]
    assert [r["name"] for r in second["items"]] == ["p30"] and second["next_cursor"] is None
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
