"""Rules and the CRM on both engines, through the HTTP API with the worker's part run: customer conditions
read the real tier, tags, points and visits; add_tag, remove_tag and add_points run once per (event,
rule) however often the event is delivered, audited as the rule; and the seed scenario "VIP customers'
bookings are auto-approved and assigned to a gold consultant"."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from appliance.audit.tables import AuditEntry
from appliance.automation.engine import SUBSCRIBER
from appliance.automation.tables import RuleRun
from appliance.events import actions as events
from appliance.events.tables import Delivery
from appliance.testing.builders import make_branch, make_resource, make_service, sign_in_as
from appliance.testing.deliveries import settle
from tests.appliance.customers.support import PRICE, book, complete, customer_of, pay, phone, shop, slot


async def create_rule(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post("/api/v1/rules", json={"name": "规则", **fields})
    assert response.status_code == 201, response.text
    rule_id: str = response.json()["id"]
    return rule_id


async def test_vip_customers_bookings_are_auto_approved_and_given_the_gold_consultant(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    staff = [await make_resource(branch.id, name=name, capacity=2) for name in ("王芳", "金牌顾问")]
    # The engine picks among equals in id order: the gold consultant is the one it would not pick.
    plain, gold = sorted((r.id for r in staff), key=str)
    service = await make_service(branch.id, "精油按摩", requires_approval=True)
    await sign_in_as(client, "owner")
    await create_rule(
        client, trigger={"event": "booking.created"},
        conditions={"all": [{"field": "customer.tier", "op": "eq", "value": "vip"}]},
        actions=[{"type": "auto_approve"}, {"type": "assign_resource", "resource_id": str(gold), "mode": "assign"}],
    )
    # The VIP became one by staff override after a first visit; the other customer is new.
    first = await book(service.id, 1, 10, 1)
    await settle()
    assert (await client.get(f"/api/v1/bookings/{first}")).json()["status"] == "pending_approval"  # not VIP yet then
    vip = (await customer_of(client, 1))["id"]
    assert (await client.patch(f"/api/v1/customers/{vip}", json={"tier_override": "vip"})).status_code == 200

    made = [
        await client.post("/api/v1/bookings", json={
            "service_id": str(service.id), "starts_at": slot(2, 10 + n).isoformat(),
            "customer": {"name": name, "phone": phone(n)},
        })
        for n, name in ((1, "韩梅梅"), (2, "李雷"))
    ]
    await settle()

    after = [(await client.get(f"/api/v1/bookings/{r.json()['booking']['id']}")).json() for r in made]
    assert [b["status"] for b in after] == ["confirmed", "pending_approval"]
    assert after[0]["resource_ids"] == [str(gold)]
    assert made[0].json()["booking"]["resource_ids"] == [str(plain)]  # booked with whoever was first free
    assert after[1]["resource_ids"] == made[1].json()["booking"]["resource_ids"]  # the others keep theirs


async def test_a_tier_benefit_named_in_a_rule_auto_approves_the_tiers_that_have_it(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id, name="王芳", capacity=3)
    service = await make_service(branch.id, "精油按摩", requires_approval=True)
    await sign_in_as(client, "owner")
    await create_rule(
        client, trigger={"event": "booking.created"},
        conditions={"all": [{"field": "customer.benefits", "op": "contains", "value": "免审核"}]},
        actions=[{"type": "auto_approve"}],
    )
    # The built-in ladder: VIP has 免审核 (no approval needed), gold only 生日礼 and 优先预约.
    for n, tier in ((1, "vip"), (2, "gold")):
        await book(service.id, 1, 10 + n, n)
        await settle()
        customer = (await customer_of(client, n))["id"]
        assert (await client.patch(f"/api/v1/customers/{customer}", json={"tier_override": tier})).status_code == 200

    made = [
        await client.post("/api/v1/bookings", json={
            "service_id": str(service.id), "starts_at": slot(2, 10 + n).isoformat(), "customer": {"name": "韩梅梅", "phone": phone(n)},
        })
        for n in (1, 2)
    ]
    await settle()

    after = [(await client.get(f"/api/v1/bookings/{r.json()['booking']['id']}")).json() for r in made]
    assert [b["status"] for b in after] == ["confirmed", "pending_approval"]
    view = await customer_of(client, 2)
    assert view["membership"]["benefits"] == ["生日礼", "优先预约"]


async def test_tag_and_points_actions_run_once_per_event_audited_as_the_rule(client: httpx.AsyncClient) -> None:
    place = await shop()
    await sign_in_as(client, "owner")
    rule_id = await create_rule(
        client, trigger={"event": "booking.completed"},
        conditions={"all": [{"field": "customer.visit_count", "op": "gte", "value": 2},
                            {"field": "customer.tags", "op": "contains", "value": "New"}]},
        actions=[{"type": "add_tag", "tag": "Regular"}, {"type": "remove_tag", "tag": "new"}, {"type": "add_points", "points": 50}],
    )
    visits = [await book(place.service_id, 2, hour, 1) for hour in (10, 12)]
    customer_id = (await customer_of(client, 1))["id"]
    await client.post(f"/api/v1/customers/{customer_id}/tags", json={"tags": ["new"]})

    await complete(visits[0])
    await settle()
    assert (await customer_of(client, 1))["tags"] == ["new"]  # one visit: the rule does not hold
    await complete(visits[1])
    await settle()

    view = await customer_of(client, 1)
    assert view["tags"] == ["regular"]
    assert view["points"]["balance"] == 50
    ledger = (await client.get(f"/api/v1/customers/{customer_id}/points")).json()["items"]
    assert [(e["kind"], e["points"], e["actor_label"]) for e in ledger] == [("bonus", 50, "rule: 规则")]
    actions = await AuditEntry.select(AuditEntry.action, AuditEntry.changed_fields).where(
        AuditEntry.actor_id == f"rule:{rule_id}"
    ).order_by(AuditEntry.occurred_at).output(load_json=True)
    assert [(a["action"], a["changed_fields"]) for a in actions] == [
        ("customer.tagged", ["tags"]), ("customer.untagged", ["tags"]), ("customer.points_awarded", ["points"]),
    ]

    # Every delivery to the rules delivered again: nothing runs twice.
    for delivery in await Delivery.select(Delivery.id).where(Delivery.subscriber == SUBSCRIBER):
        await Delivery.update({Delivery.status: "pending"}).where(Delivery.id == delivery["id"])
        assert await events.deliver(delivery["id"]) == "done"
    await settle()
    assert (await customer_of(client, 1))["points"]["balance"] == 50
    assert await AuditEntry.count().where(AuditEntry.actor_id == f"rule:{rule_id}") == 3


async def test_taking_more_points_than_the_customer_has_is_skipped_with_the_reason(client: httpx.AsyncClient) -> None:
    place = await shop()
    await sign_in_as(client, "owner")
    rule_id = await create_rule(
        client, trigger={"event": "booking.cancelled"},
        actions=[{"type": "add_points", "points": -100}, {"type": "add_tag", "tag": "爽约"}],
    )
    booking_id = await book(place.service_id, 2, 10, 1)

    assert (await client.post(f"/api/v1/bookings/{booking_id}/cancel")).status_code == 200
    await settle()

    [run] = await RuleRun.select(RuleRun.outcome).where(RuleRun.rule == UUID(rule_id)).output(load_json=True)
    assert run["outcome"] == [
        {"type": "add_points", "result": "skipped", "reason": "not enough points: the balance is 0"},
        {"type": "add_tag", "result": "done", "reason": ""},
    ]
    assert (await customer_of(client, 1))["tags"] == ["爽约"]


async def test_the_dry_run_shows_the_customers_real_facts(client: httpx.AsyncClient) -> None:
    place = await shop()
    await sign_in_as(client, "owner")
    done = await book(place.service_id, 2, 10, 1)
    await complete(done)
    await pay(done)
    upcoming = await book(place.service_id, 3, 10, 1)
    customer_id = (await customer_of(client, 1))["id"]
    await client.post(f"/api/v1/customers/{customer_id}/tags", json={"tags": ["VIP", "常客"]})
    rule_id = await create_rule(
        client, trigger={"event": "booking.created"}, enabled=False,
        conditions={"all": [{"field": "customer.tags", "op": "contains", "value": "ＶＩＰ"},
                            {"field": "customer.points", "op": "gte", "value": PRICE // 100},
                            {"field": "customer.is_new", "op": "eq", "value": False}]},
        actions=[{"type": "add_points", "points": 10}],
    )

    result = (await client.post(f"/api/v1/rules/{rule_id}/test", json={"booking_id": str(upcoming)})).json()
    first = (await client.post(f"/api/v1/rules/{rule_id}/test", json={"booking_id": str(done)})).json()

    facts = result["facts"]
    assert (facts["customer.tier"], facts["customer.tags"], facts["customer.points"]) == ("normal", ["vip", "常客"], PRICE // 100)
    assert facts["customer.benefits"] == []  # the built-in ladder's first tier has none
    assert (facts["customer.visit_count"], facts["customer.is_new"]) == (1, False)
    assert result["conditions_held"] is True
    assert (first["facts"]["customer.visit_count"], first["facts"]["customer.is_new"]) == (1, True)  # that visit was the first


async def test_a_tag_that_can_never_be_a_tag_is_refused_by_path(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner")
    response = await client.post("/api/v1/rules", json={
        "name": "坏规则", "trigger": {"event": "booking.created"},
        "conditions": {"all": [{"field": "customer.tags", "op": "contains", "value": "a,b"}]},
        "actions": [{"type": "add_tag", "tag": "x" * 40}],
    })

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"conditions.all[0].value", "actions[0].tag"}
