"""The points ledger on both engines: earned once per booking when paid (or completed), taken back on a
refund, redeemed and adjusted by staff within the balance, replayed by Idempotency-Key, and expired
points leaving the balance at once and the ledger at the next housekeeping."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.bookings.states import PaymentStatus
from appliance.core.clock import utc_now
from appliance.customers.points import redeem_points
from appliance.customers.schemas import PointsRedeem
from appliance.customers.tables import PointsEntry
from appliance.events.sweeper import housekeeping
from appliance.testing.builders import sign_in_as
from tests.appliance.customers.support import PRICE, audit_of, book, complete, customer_of, pay, shop
from tests.appliance.notifications.support import problems

EARNED = PRICE // 100  # one point per yuan


async def ledger(client: httpx.AsyncClient, customer_id: str) -> list[tuple[str, int, int]]:
    """(kind, points, balance after) oldest first."""
    page = (await client.get(f"/api/v1/customers/{customer_id}/points", params={"limit": "200"})).json()
    return [(e["kind"], e["points"], e["balance_after"]) for e in reversed(page["items"])]


async def balance(client: httpx.AsyncClient, customer_id: str) -> int:
    points: dict[str, Any] = (await client.get(f"/api/v1/customers/{customer_id}")).json()["points"]
    return int(points["balance"])


async def test_a_paid_booking_earns_once_and_a_refund_takes_the_points_back(client: httpx.AsyncClient) -> None:
    place = await shop()
    booking_id = await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]

    await complete(booking_id)  # by default bookings earn once paid
    assert await ledger(client, customer_id) == []
    await pay(booking_id)
    await pay(booking_id, PaymentStatus.awaiting_payment)
    await pay(booking_id)  # paid again: no second earning
    assert await ledger(client, customer_id) == [("earn", EARNED, EARNED)]
    await pay(booking_id, PaymentStatus.refunded)

    assert await ledger(client, customer_id) == [("earn", EARNED, EARNED), ("reverse", -EARNED, 0)]
    entries = [(e["action"], e["actor_id"], e["details"]["kind"]) for e in await audit_of(customer_id) if "points" in e["action"]]
    assert entries == [("customer.points_earned", "loyalty", "earn"), ("customer.points_reversed", "loyalty", "reverse")]


async def test_a_refund_takes_back_only_what_is_left_of_spent_points(client: httpx.AsyncClient) -> None:
    place = await shop()
    booking_id = await book(place.service_id, 2, 10, 1)
    await pay(booking_id)
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]
    assert (await client.post(f"/api/v1/customers/{customer_id}/points/redeem", json={"points": 150})).status_code == 201

    await pay(booking_id, PaymentStatus.refunded)

    assert await ledger(client, customer_id) == [("earn", EARNED, EARNED), ("redeem", -150, EARNED - 150), ("reverse", 150 - EARNED, 0)]


async def test_redeeming_never_goes_below_zero_and_an_idempotency_key_replays(client: httpx.AsyncClient) -> None:
    place = await shop()
    await pay(await book(place.service_id, 2, 10, 1))
    await sign_in_as(client, "desk", Role.front_desk, branch_id=place.branch_id)
    customer_id = (await customer_of(client, 1))["id"]
    redeem = f"/api/v1/customers/{customer_id}/points/redeem"
    key = {"Idempotency-Key": "checkout-7"}

    first = await client.post(redeem, json={"points": 100, "reason": "抵扣"}, headers=key)
    replay = await client.post(redeem, json={"points": 100, "reason": "抵扣"}, headers=key)
    reused = await client.post(redeem, json={"points": 50}, headers=key)
    too_much = await client.post(redeem, json={"points": EARNED - 99})

    assert first.status_code == replay.status_code == 201
    assert first.json() == replay.json()
    assert (first.json()["points"], first.json()["balance_after"], first.json()["actor_label"]) == (-100, EARNED - 100, "desk")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert too_much.status_code == 422 and too_much.json()["code"] == "insufficient_points"
    assert problems(too_much) == {"points": f"the customer has {EARNED - 100} points"}
    assert await balance(client, customer_id) == EARNED - 100


async def test_adjusting_needs_loyalty_manage_and_a_reason_and_stays_within_the_balance(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "desk", Role.front_desk, branch_id=place.branch_id)
    customer_id = (await customer_of(client, 1))["id"]
    adjust = f"/api/v1/customers/{customer_id}/points/adjust"

    assert (await client.post(adjust, json={"points": 500, "reason": "开业活动"})).status_code == 403
    await sign_in_as(client, "boss", Role.manager, branch_id=place.branch_id)
    added = await client.post(adjust, json={"points": 500, "reason": "开业活动"})
    taken = await client.post(adjust, json={"points": -200, "reason": "误加更正"})
    below = await client.post(adjust, json={"points": -301, "reason": "误加更正"})
    zero = await client.post(adjust, json={"points": 0, "reason": "无"})
    blank = await client.post(adjust, json={"points": 10, "reason": ""})

    assert (added.status_code, taken.status_code) == (201, 201)
    assert added.json()["expires_at"] is not None and added.json()["reason"] == "开业活动"
    assert below.json()["code"] == "insufficient_points"
    assert problems(zero) == {"points": "must not be 0"}
    assert blank.status_code == 422 and "reason" in blank.text, blank.text
    assert await ledger(client, customer_id) == [("adjust", 500, 500), ("adjust", -200, 300)]
    reasons = [e["details"] for e in await audit_of(customer_id) if e["action"] == "customer.points_adjusted"]
    assert all(set(d) == {"entry_id", "kind"} for d in reasons)  # the reason is in the ledger, not the audit log


async def test_expired_points_leave_the_balance_at_once_and_the_ledger_at_housekeeping(client: httpx.AsyncClient) -> None:
    place = await shop()
    await pay(await book(place.service_id, 2, 10, 1))
    await pay(await book(place.facial_id, 3, 10, 1))
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]
    assert (await client.post(f"/api/v1/customers/{customer_id}/points/redeem", json={"points": 50})).status_code == 201
    # The massage's points (the older lot, spent first) reach their expiry.
    now = utc_now()
    await PointsEntry.update({PointsEntry.expires_at: now - timedelta(minutes=1)}).where(
        (PointsEntry.kind == "earn") & (PointsEntry.points == EARNED)
    )

    assert await balance(client, customer_id) == 398
    assert await ledger(client, customer_id) == [("earn", EARNED, EARNED), ("earn", 398, EARNED + 398), ("redeem", -50, EARNED + 348)]
    assert (await housekeeping(now))["expired points"] == 1
    assert (await housekeeping(now))["expired points"] == 0

    assert (await ledger(client, customer_id))[-1] == ("expire", -(EARNED - 50), 398)
    assert await balance(client, customer_id) == 398
    view = (await client.get(f"/api/v1/customers/{customer_id}")).json()["points"]
    assert view["next_expiry"]["points"] == 398 and view["earned"] == EARNED + 398


async def test_two_redemptions_at_once_never_spend_more_than_the_balance(client: httpx.AsyncClient) -> None:
    place = await shop()
    await pay(await book(place.service_id, 2, 10, 1))
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]
    actor = cli_actor()

    outcomes = await asyncio.gather(
        *(redeem_points(UUID(customer_id), PointsRedeem(points=150), actor=actor) for _ in range(2)), return_exceptions=True,
    )

    assert sorted(type(o).__name__ for o in outcomes) == ["InsufficientPoints", "PointsEntry"]
    assert await balance(client, customer_id) == EARNED - 150
