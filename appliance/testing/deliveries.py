"""Run the worker's part in the test's own loop, step by step: deterministic, no threads, no broker."""

from __future__ import annotations

import asyncio

from appliance.events import actions as events
from appliance.events.tables import Delivery, OutboxEvent


async def deliver_everything() -> list[str]:
    """Fan out every pending event and try every delivery due now (not those waiting for a retry), until
    nothing is left; returns each try's outcome (done, retry, dead, skipped) in order."""
    outcomes: list[str] = []
    while True:
        pending = await OutboxEvent.select(OutboxEvent.id).where(OutboxEvent.dispatched_at.is_null())
        for event in pending:
            await events.fan_out(event["id"])
        due = await Delivery.select(Delivery.id).where(
            (Delivery.status == "pending") & Delivery.next_attempt_at.is_null()
        )
        if not pending and not due:
            return outcomes
        for delivery in due:
            outcomes.append(await events.deliver(delivery["id"]))


async def settle(timeout_s: float = 20.0) -> None:
    """With a worker running too (an app in embedded mode): help it, then wait until no event waits for
    fan-out and no delivery due now is pending or running."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        await deliver_everything()
        busy = await OutboxEvent.count().where(OutboxEvent.dispatched_at.is_null()) + await Delivery.count().where(
            (Delivery.status == "running") | ((Delivery.status == "pending") & Delivery.next_attempt_at.is_null())
        )
        if not busy:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{busy} events or deliveries still in flight after {timeout_s} s")
        await asyncio.sleep(0.05)
