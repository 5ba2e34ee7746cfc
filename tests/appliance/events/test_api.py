"""The deliveries API: dead letters listed, inspected with their attempts, re-sent; global operators only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from appliance.auth.roles import Role
from appliance.auth.actor import cli_actor
from appliance.core.db import write_transaction
from appliance.events.envelope import Envelope, Subject
from appliance.events.outbox import add_event
from appliance.events.subscribers import Permanent, Subscriber, subscribe, unsubscribe
from appliance.events.tables import Delivery
from appliance.testing.builders import make_branch, sign_in_as


class Refusing:
    def __init__(self) -> None:
        self.refuse = True
        self.handled: list[Envelope] = []

    async def handle(self, envelope: Envelope) -> None:
        if self.refuse:
            raise Permanent("550 mailbox unavailable for li.lei@example.com")
        self.handled.append(envelope)


@pytest.fixture
def refusing() -> Iterator[Refusing]:
    subscriber = Refusing()
    # Never wants what the in-process worker would pick up on its own in these tests.
    subscribe(Subscriber("test.refusing", lambda e: e.type == "test.only", subscriber.handle))
    yield subscriber
    unsubscribe("test.refusing")


async def dead_delivery(refusing: Refusing) -> str:
    """An event only the refusing subscriber wants, fanned out and tried by the in-process worker."""
    async with write_transaction():
        await add_event("test.only", Subject("test", "1"), {}, actor=cli_actor())
    for _ in range(200):
        row = await Delivery.select(Delivery.id, Delivery.status).where(Delivery.subscriber == "test.refusing").first()
        if row is not None and row["status"] == "dead":
            return str(row["id"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"the worker did not try the delivery: {row}")


async def test_an_owner_lists_dead_letters_sees_the_attempts_and_resends(client: httpx.AsyncClient, refusing: Refusing) -> None:
    delivery_id = await dead_delivery(refusing)
    await sign_in_as(client, "owner")

    dead = (await client.get("/api/v1/deliveries", params={"status": "dead"})).json()
    assert [d["id"] for d in dead["items"]] == [delivery_id] and dead["next_cursor"] is None
    assert dead["items"][0]["event_type"] == "test.only"
    assert (await client.get("/api/v1/deliveries", params={"status": "done"})).json()["items"] == []

    detail = (await client.get(f"/api/v1/deliveries/{delivery_id}")).json()
    [attempt] = detail["attempt_log"]
    assert attempt["outcome"] == "failed" and "li.lei@example.com" not in attempt["response"]
    assert attempt["response"].startswith("Permanent: 550 mailbox unavailable")

    refusing.refuse = False
    resent = await client.post(f"/api/v1/deliveries/{delivery_id}/resend")
    assert resent.status_code == 200, resent.text
    assert resent.json()["status"] == "pending" and resent.json()["attempts"] == 0
    again = await client.post(f"/api/v1/deliveries/{delivery_id}/resend")
    assert again.status_code in (200, 409)  # done by the worker already, or still being tried
    if again.status_code == 409:
        assert again.json()["code"] == "delivery_in_progress"


async def test_deliveries_are_for_operators_of_every_branch(client: httpx.AsyncClient, refusing: Refusing) -> None:
    delivery_id = await dead_delivery(refusing)
    branch = await make_branch("徐汇店")

    await sign_in_as(client, "manager", Role.manager, branch_id=branch.id)
    scoped = await client.get("/api/v1/deliveries")
    assert scoped.status_code == 403 and scoped.json()["code"] == "forbidden"
    await sign_in_as(client, "desk", Role.front_desk)
    assert (await client.post(f"/api/v1/deliveries/{delivery_id}/resend")).status_code == 403

    assert (await Delivery.select(Delivery.status).where(Delivery.id == delivery_id).first())["status"] == "dead"


async def test_a_bad_filter_or_unknown_delivery_is_a_clear_error(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner")

    bad = await client.get("/api/v1/deliveries", params={"status": "lost"})
    assert bad.status_code == 400 or bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    missing = await client.post("/api/v1/deliveries/00000000-0000-4000-8000-000000000000/resend")
    assert missing.status_code == 404
