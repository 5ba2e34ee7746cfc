"""The block_resource_window action on both engines, through the HTTP API with the worker's part run:
a block is time off made by the catalog's action, audited as the rule, made once however often the event
is delivered, honoured by availability and booking; the dry run says what it would block."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from appliance.audit.tables import AuditEntry
from appliance.automation.blocks import Held, plan_blocks
from appliance.automation.engine import SUBSCRIBER
from appliance.automation.tables import Rule
from appliance.catalog.tables import TimeOff
from appliance.events import actions as events
from appliance.events.tables import Delivery
from appliance.testing.builders import make_branch, make_resource, make_service, requirement, sign_in_as
from appliance.testing.deliveries import settle
from tests.appliance.automation.test_seed_scenarios import local_starts, next_weekday

SHANGHAI = ZoneInfo("Asia/Shanghai")


def block_rule(**action: Any) -> dict[str, Any]:
    return {
        "name": "用后清洁", "trigger": {"event": "booking.created"},
        "actions": [{"type": "block_resource_window", "anchor": "ends_at", "offset_minutes": 0, "minutes": 30, **action}],
    }


async def spa(client: httpx.AsyncClient) -> tuple[UUID, UUID, UUID]:
    """A branch with a therapist for two and rooms A and B; a massage needing both. Signed in as owner."""
    branch = await make_branch()
    await make_resource(branch.id, name="技师", skills=["massage"], capacity=2)
    room_a = await make_resource(branch.id, "room", "A房", ["spa"])
    room_b = await make_resource(branch.id, "room", "B房", ["spa"])
    service = await make_service(
        branch.id, "精油按摩", 60, [requirement("staff", "massage"), requirement("room", "spa")], slot_step_minutes=30,
    )
    await sign_in_as(client, "owner")
    return service.id, room_a.id, room_b.id


async def book(client: httpx.AsyncClient, service_id: UUID, room: UUID, at: datetime, n: int) -> httpx.Response:
    return await client.post("/api/v1/bookings", json={
        "service_id": str(service_id), "resource_ids": [str(room)], "starts_at": at.isoformat(),
        "customer": {"name": f"客户{n}", "phone": f"+8613800000{n:03d}"},
    })


async def test_the_bookings_room_is_blocked_after_it_once_however_often_the_event_comes(client: httpx.AsyncClient) -> None:
    service_id, room_a, room_b = await spa(client)
    rule = await client.post("/api/v1/rules", json=block_rule(resource_kind="room"))
    assert rule.status_code == 201, rule.text
    day = next_weekday(1)
    ten = datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)
    assert (await book(client, service_id, room_b, ten, 1)).status_code == 201

    await settle()

    [block] = await TimeOff.select()
    assert (block["resource"], block["starts_at"], block["ends_at"]) == (room_b, ten + timedelta(hours=1), ten + timedelta(hours=1, minutes=30))
    [audited] = await AuditEntry.select(AuditEntry.actor_id).where(AuditEntry.action == "time_off.added")
    assert audited["actor_id"] == f"rule:{rule.json()['id']}"
    # B: 10:00–11:00 booked, 11:00–11:30 blocked; A is untouched.
    half_hours = [f"{h:02d}:{m:02d}" for h in range(9, 18) for m in (0, 30)][:-1]  # 09:00 … 17:00
    assert await local_starts(client, service_id, day, resource_id=str(room_b)) == ["09:00", *half_hours[5:]]
    assert half_hours[5] == "11:30"
    assert await local_starts(client, service_id, day, resource_id=str(room_a)) == half_hours
    refused = await book(client, service_id, room_b, ten + timedelta(hours=1), 2)
    assert refused.status_code == 409 and refused.json()["code"] == "slot_unavailable"

    # The same event delivered again (a worker died before recording success): no second block.
    delivery = await Delivery.select(Delivery.id).where(Delivery.subscriber == SUBSCRIBER).first()
    await Delivery.update({Delivery.status: "pending"}).where(Delivery.id == delivery["id"])
    assert await events.deliver(delivery["id"]) == "done"
    assert await TimeOff.count() == 1


async def blocks_now() -> list[tuple[UUID, datetime, datetime]]:
    rows = await TimeOff.select(TimeOff.resource, TimeOff.starts_at, TimeOff.ends_at).order_by(TimeOff.starts_at)
    return [(r["resource"], r["starts_at"], r["ends_at"]) for r in rows]


async def test_a_block_follows_its_booking_when_it_is_rescheduled_moved_to_another_room_and_cancelled(
    client: httpx.AsyncClient,
) -> None:
    service_id, room_a, room_b = await spa(client)
    assert (await client.post("/api/v1/rules", json=block_rule(resource_kind="room"))).status_code == 201
    day = next_weekday(1)
    ten = datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)
    booked = (await book(client, service_id, room_b, ten, 1)).json()["booking"]
    await settle()
    assert await blocks_now() == [(room_b, ten + timedelta(hours=1), ten + timedelta(hours=1, minutes=30))]

    # Half an hour later: the new time overlaps the booking's own block, which moves with it.
    moved = await client.post(f"/api/v1/bookings/{booked['id']}/reschedule", json={
        "starts_at": (ten + timedelta(minutes=30)).isoformat(), "resource_ids": [str(room_b)],
    })
    assert moved.status_code == 200, moved.text
    after_move = ten + timedelta(hours=1, minutes=30)
    assert await blocks_now() == [(room_b, after_move, after_move + timedelta(minutes=30))]
    half_hours = [f"{h:02d}:{m:02d}" for h in range(9, 18) for m in (0, 30)][:-1]  # 09:00 … 17:00
    assert "11:30" not in await local_starts(client, service_id, day, resource_id=str(room_b))

    # To room A at the same time: the block goes with the room kind it was made for.
    reassigned = await client.post(f"/api/v1/bookings/{booked['id']}/reassign", json={"resource_id": str(room_a)})
    assert reassigned.status_code == 200, reassigned.text
    assert await blocks_now() == [(room_a, after_move, after_move + timedelta(minutes=30))]
    assert await local_starts(client, service_id, day, resource_id=str(room_b)) == half_hours

    # Cancelled: the room is free again right after the (former) booking.
    assert (await client.post(f"/api/v1/bookings/{booked['id']}/cancel", json={"reason": "客户临时有事"})).status_code == 200
    assert await blocks_now() == []
    assert await local_starts(client, service_id, day, resource_id=str(room_a)) == half_hours
    moved_by = await AuditEntry.select(AuditEntry.action).where(AuditEntry.actor_label == "rules: blocks follow their booking")
    assert sorted(r["action"] for r in moved_by) == ["time_off.added"] * 2 + ["time_off.removed"] * 3


async def test_the_dry_run_says_which_resource_and_window_it_would_block_and_blocks_nothing(client: httpx.AsyncClient) -> None:
    service_id, room_a, room_b = await spa(client)
    rule = (await client.post("/api/v1/rules", json=block_rule(
        resource_id=str(room_a), anchor="starts_at", offset_minutes=-60, minutes=60,
    ))).json()
    rule_id = rule["id"]
    await client.patch(f"/api/v1/rules/{rule_id}", json={"enabled": False})  # only the dry run acts
    day = next_weekday(2)
    ten = datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)
    booking = (await book(client, service_id, room_b, ten, 1)).json()["booking"]

    result = await client.post(f"/api/v1/rules/{rule_id}/test", json={"booking_id": booking["id"]})

    assert result.status_code == 200, result.text
    [would] = result.json()["would_run"]
    [block] = would["would_block"]
    assert (block["resource_id"], block["resource_name"]) == (str(room_a), "A房")
    assert datetime.fromisoformat(block["starts_at"]) == ten - timedelta(hours=1)
    assert datetime.fromisoformat(block["ends_at"]) == ten
    await settle()
    assert await TimeOff.count() == 0


async def test_a_block_naming_no_or_an_unknown_resource_is_refused_by_path_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    _, room_a, _ = await spa(client)
    other_branch = await make_branch("徐汇店")
    cases = [
        (block_rule(), "actions[0].resource_id"),
        (block_rule(resource_id=str(room_a), resource_kind="room"), "actions[0].resource_id"),
        (block_rule(resource_kind="desk"), "actions[0].resource_kind"),
        (block_rule(resource_kind="room", minutes=0), "actions[0].minutes"),
        (block_rule(resource_id=str(UUID(int=7))), "actions[0].resource_id"),
        ({**block_rule(resource_id=str(room_a)), "branch_id": str(other_branch.id)}, "actions[0].resource_id"),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/rules", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in response.json()["errors"]}, response.text
    assert await Rule.count() == 0


def test_a_window_that_has_passed_or_a_kind_the_booking_does_not_hold_blocks_nothing() -> None:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
    room = Held(UUID(int=1), "room", "B房")
    action = {"resource_kind": "room", "anchor": "ends_at", "offset_minutes": 15, "minutes": 30}

    def plan(action: dict[str, Any], now: datetime) -> object:
        return plan_blocks(action, starts_at=start, ends_at=start + timedelta(hours=1), held=[room, room], named=None, now=now)

    [block] = plan(action, start)  # type: ignore[misc]
    assert (block.resource_id, block.starts_at, block.ends_at) == (room.id, start + timedelta(minutes=75), start + timedelta(minutes=105))
    assert plan(action, start + timedelta(minutes=105)) == "the window has passed"
    assert plan({**action, "resource_kind": "equipment"}, start) == "the booking holds no equipment"
