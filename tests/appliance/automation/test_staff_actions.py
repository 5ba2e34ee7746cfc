"""Rules that act for staff, on both engines, through the HTTP API with the worker's part run: a rule gives
phone bookings the gold consultant (`assign` records a failure when she is taken, `prefer` keeps what the
booking has; the dry run shows the resources the booking would hold), and one tells the branch's managers
in their inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from appliance.auth.roles import Role
from appliance.automation.tables import RuleRun
from appliance.testing.builders import make_branch, make_resource, make_service, make_user, requirement, sign_in, sign_in_as
from appliance.testing.deliveries import settle
from tests.appliance.automation.test_seed_scenarios import next_weekday

SHANGHAI = ZoneInfo("Asia/Shanghai")


def gold_rule(gold: UUID, mode: str) -> dict[str, Any]:
    return {
        "name": "电话预约给金牌顾问", "trigger": {"event": "booking.created"},
        "conditions": {"field": "booking.channel", "op": "eq", "value": "phone"},
        "actions": [{"type": "assign_resource", "resource_id": str(gold), "mode": mode}],
    }


async def consultancy(client: httpx.AsyncClient) -> tuple[UUID, UUID, UUID]:
    """Two consultants; the gold one sorts last, so the engine picks the other when both are free."""
    branch = await make_branch()
    a = await make_resource(branch.id, name="顾问甲", skills=["consult"])
    b = await make_resource(branch.id, name="顾问乙", skills=["consult"])
    plain, gold = sorted((a.id, b.id), key=str)
    service = await make_service(branch.id, "咨询", 60, [requirement("staff", "consult")])
    await sign_in_as(client, "owner")
    return service.id, plain, gold


async def book(client: httpx.AsyncClient, service_id: UUID, at: datetime, n: int, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/bookings", json={
        "service_id": str(service_id), "starts_at": at.isoformat(), "channel": "phone",
        "customer": {"name": f"客户{n}", "phone": f"+8613900000{n:03d}"}, **extra,
    })
    assert response.status_code == 201, response.text
    booking: dict[str, Any] = response.json()["booking"]
    return booking


async def outcome_of(rule_id: str, booking_id: str) -> list[dict[str, Any]]:
    run = await RuleRun.select(RuleRun.outcome).where(
        (RuleRun.rule == rule_id) & (RuleRun.booking == booking_id)
    ).output(load_json=True).first()
    assert run is not None
    result: list[dict[str, Any]] = run["outcome"]
    return result


def ten_on(weekday: int) -> datetime:
    day = next_weekday(weekday)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)


async def test_a_phone_booking_gets_the_gold_consultant(client: httpx.AsyncClient) -> None:
    service_id, plain, gold = await consultancy(client)
    rule = (await client.post("/api/v1/rules", json=gold_rule(gold, "assign"))).json()
    booking = await book(client, service_id, ten_on(0), 1)
    assert booking["resource_ids"] == [str(plain)]

    dry = await client.post(f"/api/v1/rules/{rule['id']}/test", json={"booking_id": booking["id"]})
    await settle()

    assert dry.json()["would_run"][0]["would_hold"] == [str(gold)]
    after = (await client.get(f"/api/v1/bookings/{booking['id']}")).json()
    assert after["resource_ids"] == [str(gold)]
    assert await outcome_of(rule["id"], booking["id"]) == [{"type": "assign_resource", "result": "done", "reason": ""}]


async def test_assign_records_a_failure_and_prefer_keeps_the_booking_as_it_is(client: httpx.AsyncClient) -> None:
    service_id, plain, gold = await consultancy(client)
    at = ten_on(1)
    await book(client, service_id, at, 1, channel="web", resource_ids=[str(gold)])  # she is taken at ten
    must = (await client.post("/api/v1/rules", json=gold_rule(gold, "assign"))).json()
    rather = (await client.post("/api/v1/rules", json={**gold_rule(gold, "prefer"), "name": "尽量给金牌顾问"})).json()

    booking = await book(client, service_id, at, 2)
    dry = await client.post(f"/api/v1/rules/{must['id']}/test", json={"booking_id": booking["id"]})
    await settle()

    assert "not free" in dry.json()["would_run"][0]["would_skip"]
    assert (await client.get(f"/api/v1/bookings/{booking['id']}")).json()["resource_ids"] == [str(plain)]
    [failed] = await outcome_of(must["id"], booking["id"])
    assert failed["result"] == "failed" and "not free" in failed["reason"]
    [kept] = await outcome_of(rather["id"], booking["id"])
    assert kept["result"] == "skipped" and kept["reason"].startswith("kept its resources")


async def test_a_rule_cannot_name_a_resource_of_another_branch(client: httpx.AsyncClient) -> None:
    service_id, plain, gold = await consultancy(client)
    elsewhere = await make_branch("分店")
    stranger = await make_resource(elsewhere.id, name="外店顾问", skills=["consult"])
    branch_id = (await client.get(f"/api/v1/services/{service_id}")).json()["branch_id"]

    response = await client.post("/api/v1/rules", json={**gold_rule(stranger.id, "assign"), "branch_id": branch_id})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["actions[0].resource_id"]


async def test_a_rule_tells_the_branch_managers_in_their_inbox(client: httpx.AsyncClient) -> None:
    service_id, plain, gold = await consultancy(client)
    branch_id = (await client.get(f"/api/v1/services/{service_id}")).json()["branch_id"]
    await make_user("dian.zhang", Role.manager, branch_id=UUID(branch_id))
    rule = await client.post("/api/v1/rules", json={
        "name": "电话预约告知店长", "trigger": {"event": "booking.created"},
        "conditions": {"field": "booking.channel", "op": "eq", "value": "phone"},
        "actions": [{"type": "notify", "channel": "inbox", "template": "staff_booking_notice", "recipient": "role:manager"}],
    })
    assert rule.status_code == 201, rule.text
    booking = await book(client, service_id, ten_on(2), 3)
    await book(client, service_id, ten_on(3), 4, channel="web")

    await settle()

    await sign_in(client, "dian.zhang")
    items = (await client.get("/api/v1/inbox")).json()["items"]
    assert [item["booking_id"] for item in items] == [booking["id"]]
