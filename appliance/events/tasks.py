"""Background tasks of the event machinery; messages carry ids only."""

from __future__ import annotations

from uuid import UUID

from appliance.events import actions
from appliance.worker.actors import task


@task("fan_out", queue="events")
async def fan_out(*event_ids: str) -> None:
    """Fan out a batch of events (those of one transaction or one sweep) and make each delivery's first try."""
    await actions.fan_out_and_deliver([UUID(event_id) for event_id in event_ids])


@task("deliver", queue="deliveries")
async def deliver(delivery_id: str) -> None:
    await actions.deliver(UUID(delivery_id))
