"""Background tasks of the event machinery; messages carry ids only."""

from __future__ import annotations

from uuid import UUID

from appliance.events import actions
from appliance.worker.actors import task


@task("fan_out", queue="events")
async def fan_out(event_id: str) -> None:
    await actions.fan_out(UUID(event_id))


@task("deliver", queue="deliveries")
async def deliver(delivery_id: str) -> None:
    await actions.deliver(UUID(delivery_id))
