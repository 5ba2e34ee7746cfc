"""Embedded mode end to end: a committed event reaches a subscriber through the in-process worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from appliance.auth.roles import Role
from appliance.events.envelope import Envelope
from appliance.events.subscribers import Subscriber, subscribe, unsubscribe
from appliance.events.tables import Attempt, Delivery
from appliance.testing.builders import make_user, sign_in


class Inbox:
    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.arrived = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    async def handle(self, envelope: Envelope) -> None:
        # Runs on the worker's event loop: hand the news to the test's loop.
        self.received.append(envelope)
        self.loop.call_soon_threadsafe(self.arrived.set)


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    box = Inbox()
    subscribe(Subscriber("test.inbox", lambda e: e.type == "branch.created", box.handle))
    yield box
    unsubscribe("test.inbox")


async def test_a_committed_event_is_delivered_once_by_the_worker_inside_the_server(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await make_user("owner", Role.owner)
    me = await sign_in(client, "owner")

    response = await client.post(
        "/api/v1/branches", json={"name": "静安店", "timezone": "Asia/Shanghai"}, headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert response.status_code == 201, response.text
    await asyncio.wait_for(inbox.arrived.wait(), 20)

    assert [e.subject.id for e in inbox.received] == [response.json()["id"]]
    for _ in range(100):  # the worker records the outcome right after the handler returns
        delivery = await Delivery.select().where(Delivery.subscriber == "test.inbox").first()
        if delivery and delivery["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert delivery is not None and delivery["status"] == "done"
    assert await Attempt.count().where(Attempt.delivery == delivery["id"]) == 1
    await asyncio.sleep(0.3)
    assert len(inbox.received) == 1


async def test_a_rolled_back_write_sends_nothing(client: httpx.AsyncClient, inbox: Inbox) -> None:
    await make_user("owner", Role.owner)
    me = await sign_in(client, "owner")

    refused = await client.post(
        "/api/v1/branches", json={"name": "坏店", "timezone": "Mars/Olympus"}, headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert refused.status_code == 422
    await asyncio.sleep(0.5)
    assert inbox.received == [] and await Delivery.count() == 0
