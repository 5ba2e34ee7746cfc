"""Seed scenario: service X needs two-level approval — front desk, then manager. A rejection at any level
rejects; the slot is held while pending and released when a level's time limit passes. On both engines,
decisions through the HTTP API, the worker's part run in-process."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.automation.actions import create_rule
from appliance.automation.schemas import RuleCreate
from appliance.bookings.tables import Allocation, Booking
from appliance.core.clock import utc_now
from appliance.events.timers import fire_due_timers
from appliance.testing.builders import make_branch, make_resource, make_service, sign_in_as
from appliance.testing.deliveries import settle

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Desk:
    """Staff at one branch, signed in by role on one client."""

    def __init__(self, client: httpx.AsyncClient, branch_id: UUID) -> None:
        self.client, self.branch_id, self.csrf = client, branch_id, ""

    async def as_role(self, username: str, role: Role) -> None:
        self.client.cookies.clear()
        me = await sign_in_as(self.client, username, role, branch_id=self.branch_id)
        self.csrf = me["csrf_token"]

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers={"X-CSRF-Token": self.csrf})


async def setup(client: httpx.AsyncClient) -> tuple[Desk, UUID, datetime]:
    branch = await make_branch()
    await make_resource(branch.id, name="医生", skills=["laser"])
    service_x = await make_service(branch.id, "激光治疗", 60, [{"kind": "staff", "skills": ["laser"], "count": 1}],
                                   requires_approval=True)
    await create_rule(RuleCreate(
        name="激光治疗两级审批", trigger={"event": "booking.created"},
        conditions={"all": [{"field": "service.id", "op": "eq", "value": str(service_x.id)}]},
        actions=[{"type": "require_approval", "levels": [
            {"approver_role": "front_desk", "time_limit_minutes": 60},
            {"approver_role": "manager", "time_limit_minutes": 120},
        ]}],
    ), actor=cli_actor())
    day = datetime.now(SHANGHAI).date() + timedelta(days=4)
    return Desk(client, branch.id), service_x.id, datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)


async def book(desk: Desk, service_id: UUID, starts_at: datetime, n: int) -> httpx.Response:
    return await desk.post("/api/v1/bookings", {
        "service_id": str(service_id), "starts_at": starts_at.isoformat(),
        "customer": {"name": f"客户{n}", "phone": f"+8613900000{n:03d}"},
    })


async def pending_approval(desk: Desk) -> dict[str, Any]:
    [approval] = (await desk.client.get("/api/v1/approvals", params={"status": "pending"})).json()
    return approval


async def status_of(booking_id: str) -> str:
    return str((await Booking.select(Booking.status).where(Booking.id == booking_id).first())["status"])


async def test_front_desk_then_manager_approve_and_each_may_only_decide_their_level(client: httpx.AsyncClient) -> None:
    desk, service_id, starts_at = await setup(client)
    await desk.as_role("desk", Role.front_desk)
    booking = (await book(desk, service_id, starts_at, 1)).json()["booking"]
    await settle()

    approval = await pending_approval(desk)
    assert (approval["booking_id"], approval["level"], approval["can_decide"]) == (booking["id"], 1, True)
    direct = await desk.post(f"/api/v1/bookings/{booking['id']}/approve")
    assert direct.status_code == 409 and direct.json()["code"] == "approval_in_progress"
    first = await desk.post(f"/api/v1/approvals/{approval['id']}/approve", {"reason": "资料齐全"})
    assert first.status_code == 200 and first.json()["level"] == 2 and first.json()["can_decide"] is False
    not_mine = await desk.post(f"/api/v1/approvals/{approval['id']}/approve")
    assert not_mine.status_code == 403
    assert await status_of(booking["id"]) == "pending_approval"

    await desk.as_role("manager", Role.manager)
    second = await desk.post(f"/api/v1/approvals/{approval['id']}/approve")
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "approved"
    assert [h["decision"] for h in second.json()["history"]] == ["approve", "approve"]
    assert await status_of(booking["id"]) == "confirmed"
    again = await desk.post(f"/api/v1/approvals/{approval['id']}/reject")
    assert again.status_code == 409 and again.json()["code"] == "approval_decided"


async def test_a_rejection_at_any_level_rejects_and_frees_the_slot(client: httpx.AsyncClient) -> None:
    desk, service_id, starts_at = await setup(client)
    await desk.as_role("desk", Role.front_desk)
    booking = (await book(desk, service_id, starts_at, 1)).json()["booking"]
    await settle()
    taken = await book(desk, service_id, starts_at, 2)
    assert taken.status_code == 409  # the slot is held while approval is pending

    approval = await pending_approval(desk)
    rejected = await desk.post(f"/api/v1/approvals/{approval['id']}/reject", {"reason": "资料不全"})

    assert rejected.json()["status"] == "rejected" and await status_of(booking["id"]) == "rejected"
    assert await Allocation.count().where((Allocation.booking == booking["id"]) & (Allocation.active == True)) == 0  # noqa: E712
    assert (await book(desk, service_id, starts_at, 3)).status_code == 201


async def test_a_rejection_at_the_second_level_rejects_too_and_frees_the_slot(client: httpx.AsyncClient) -> None:
    desk, service_id, starts_at = await setup(client)
    await desk.as_role("desk", Role.front_desk)
    booking = (await book(desk, service_id, starts_at, 1)).json()["booking"]
    await settle()
    approval = await pending_approval(desk)
    assert (await desk.post(f"/api/v1/approvals/{approval['id']}/approve")).status_code == 200
    assert (await book(desk, service_id, starts_at, 2)).status_code == 409  # still held between the levels

    await desk.as_role("manager", Role.manager)
    rejected = await desk.post(f"/api/v1/approvals/{approval['id']}/reject", {"reason": "不适合"})
    await settle()

    assert rejected.status_code == 200, rejected.text
    assert [h["decision"] for h in rejected.json()["history"]] == ["approve", "reject"]
    assert rejected.json()["status"] == "rejected" and await status_of(booking["id"]) == "rejected"
    assert (await book(desk, service_id, starts_at, 3)).status_code == 201


async def test_a_level_whose_time_runs_out_rejects_the_booking_and_frees_the_slot(client: httpx.AsyncClient) -> None:
    desk, service_id, starts_at = await setup(client)
    await desk.as_role("desk", Role.front_desk)
    booking = (await book(desk, service_id, starts_at, 1)).json()["booking"]
    await settle()
    approval = await pending_approval(desk)
    await desk.post(f"/api/v1/approvals/{approval['id']}/approve")  # level 1 done; the manager has 2 h

    assert await fire_due_timers(utc_now() + timedelta(minutes=61)) == 0  # level 1's limit no longer counts
    assert await fire_due_timers(utc_now() + timedelta(minutes=121)) == 1
    await settle()

    expired = (await desk.client.get(f"/api/v1/approvals/{approval['id']}")).json()
    assert expired["status"] == "expired" and await status_of(booking["id"]) == "rejected"
    assert (await book(desk, service_id, starts_at, 2)).status_code == 201
