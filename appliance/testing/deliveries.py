"""Run the worker's part in the test's own loop, step by step: deterministic, no threads, no broker."""

from __future__ import annotations

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
