"""Bookings' sealed fields (form answers, notes) shown to someone, audited as revealed: a list names the
bookings that had any, a detail the booking. Bookings with neither reveal nothing and are not named."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from uuid import UUID

from appliance.audit.trail import record_reveal
from appliance.auth.actor import Actor
from appliance.bookings.schemas import Booking
from appliance.events.envelope import Subject

FIELDS: Final = ("answers", "notes")


def _revealing(booking: Booking) -> bool:
    return bool(booking.answers or booking.notes)


async def record_bookings_listed(bookings: Sequence[Booking], *, actor: Actor) -> None:
    shown = [str(b.id) for b in bookings if _revealing(b)]
    if shown:
        await record_reveal("bookings.listed", actor=actor, fields=FIELDS, details={"count": len(shown), "booking_ids": shown})


async def record_booking_viewed(booking: Booking, *, actor: Actor) -> None:
    if _revealing(booking):
        await record_reveal("booking.viewed", actor=actor, target=Subject("booking", str(booking.id)), fields=FIELDS)
