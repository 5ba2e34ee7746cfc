"""Reads: what a template may show about a booking."""

from __future__ import annotations

from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.bookings.tables import Booking
from appliance.catalog.schemas import WEEKDAYS
from appliance.core.errors import NotFound
from appliance.customers.tables import Customer

_CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$"}


def _money(amount: int, currency: str) -> str:
    return f"{_CURRENCY_SIGNS.get(currency, currency + ' ')}{amount // 100}.{amount % 100:02d}"


async def booking_variables(booking_id: UUID) -> tuple[dict[str, Any], str | None]:
    """The template variables of a booking (times in its branch's zone) and the customer's email."""
    row = await Booking.select(
        *Booking.all_columns(), Booking.branch.name, Booking.branch.timezone, Booking.service.name,
    ).where(Booking.id == booking_id).first()
    if row is None:
        raise NotFound("no such booking")
    customer = await Customer.select(Customer.name, Customer.email).where(Customer.id == row["customer"]).first()
    zone = ZoneInfo(row["branch.timezone"])
    starts, ends = row["starts_at"].astimezone(zone), row["ends_at"].astimezone(zone)
    variables = {
        "customer": {"name": customer["name"] if customer else ""},
        "booking": {
            "id": str(row["id"]), "status": row["status"], "date": starts.strftime("%Y-%m-%d"),
            "time": starts.strftime("%H:%M"), "weekday": WEEKDAYS[starts.weekday()],
            "starts_at": starts.strftime("%Y-%m-%d %H:%M"), "ends_at": ends.strftime("%Y-%m-%d %H:%M"),
            "seats": row["seats"], "price": _money(row["price_amount"], row["price_currency"]),
        },
        "service": {"name": row["service.name"]},
        "branch": {"name": row["branch.name"]},
    }
    return variables, customer["email"] if customer else None
