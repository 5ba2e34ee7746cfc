"""The customer actions of rules — `add_tag`, `remove_tag`, `add_points` — on the customer of the booking
that set the rule off, made through the customers package's own actions, so they are audited as the rule
and bounded like any staff change (at most 30 tags; points never below zero). A redelivered event never
runs them twice: the engine records each (event, rule) once, in the transaction that made the change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from appliance.auth.actor import Actor
from appliance.bookings.tables import Booking
from appliance.customers import actions as customers
from appliance.customers.points import post_points


async def _customer_of(booking_id: UUID) -> UUID | None:
    row = await Booking.select(Booking.customer).where(Booking.id == booking_id).first()
    return row["customer"] if row else None


async def add_tag(action: Mapping[str, Any], booking_id: UUID, *, actor: Actor) -> str | None:
    """Tag the booking's customer; returns why nothing was done, or None."""
    if (customer_id := await _customer_of(booking_id)) is None:
        return "the booking no longer exists"
    await customers.add_tags(customer_id, [action["tag"]], actor=actor)
    return None


async def remove_tag(action: Mapping[str, Any], booking_id: UUID, *, actor: Actor) -> str | None:
    if (customer_id := await _customer_of(booking_id)) is None:
        return "the booking no longer exists"
    if not await customers.remove_tag(customer_id, action["tag"], actor=actor):
        return "the customer does not have this tag"
    return None


async def add_points(action: Mapping[str, Any], booking_id: UUID, *, actor: Actor) -> str | None:
    """Award (or, negative, take away) points; taking more than the balance is skipped with the reason."""
    if (customer_id := await _customer_of(booking_id)) is None:
        return "the booking no longer exists"
    await post_points(
        customer_id, int(action["points"]), kind="bonus" if action["points"] > 0 else "adjust", actor=actor,
        booking_id=booking_id, reason=actor.label,
    )
    return None
