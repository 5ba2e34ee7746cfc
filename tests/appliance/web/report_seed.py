"""Bookings for the dashboard's and reports' tests: some later today, and some completed over the last
weeks (written as an import would, since the booking actions refuse past times)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.auth.actor import cli_actor
from appliance.bookings import actions as booking_actions
from appliance.bookings.queries import get_booking
from appliance.bookings.schemas import ImportedBooking
from appliance.core.db import write_transaction
from appliance.reports.rollup import rebuild
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service


def early_morning_zone(now: datetime) -> str:
    """A zone where it is now about 03:00, so a day's 10:00 and 11:00 are still ahead whenever tests run."""
    offset = 3 - now.astimezone(UTC).hour
    if offset < -12:
        offset += 24
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-5 is UTC+5: POSIX signs


@dataclass(frozen=True)
class Shop:
    branch_id: UUID
    timezone: str
    service_id: UUID
    staff_id: UUID
    today_ids: list[UUID]


async def history(branch_id: UUID, service_id: UUID, staff_id: UUID, customer_id: UUID, tz: str,
                  days_ago: tuple[int, ...] = (1, 2, 3, 5, 8, 13)) -> None:
    """Completed, paid bookings on those past days at 10:00 local time."""
    today = datetime.now(ZoneInfo(tz)).date()
    batch = []
    for row, ago in enumerate(days_ago, start=1):
        starts = datetime.combine(today - timedelta(days=ago), time(10), ZoneInfo(tz))
        batch.append(ImportedBooking(
            row=row, customer_id=customer_id, branch_id=branch_id, service_id=service_id, starts_at=starts,
            ends_at=starts + timedelta(hours=1), status="completed", price_amount=19800, price_currency="CNY",
            payment_status="paid", staff_id=staff_id,
        ))
    async with write_transaction():
        await booking_actions.import_bookings(batch, actor=cli_actor())
        await rebuild([branch_id])  # written around the import pipeline, which keeps the report rollups itself


async def shop_with_bookings(name: str = "静安店", tz: str | None = None) -> Shop:
    """A branch with a massage service, one staff member, two bookings later today and a past."""
    zone = tz or early_morning_zone(datetime.now(UTC))
    branch = await make_branch(name, zone)
    staff = await make_resource(branch.id, name="王芳")
    service = await make_service(branch.id, "精油按摩", price={"amount": 19800, "currency": "CNY"})
    today = datetime.now(ZoneInfo(zone)).date()
    ids = [
        await make_booking(service.id, datetime.combine(today, time(hour), ZoneInfo(zone)), name=customer, phone=phone)
        for hour, customer, phone in ((10, "韩梅梅", "+8613900000001"), (11, "李雷", "+8613900000002"))
    ]
    customer_id = (await get_booking(ids[0], actor=cli_actor())).customer_id
    await history(branch.id, service.id, staff.id, customer_id, zone)
    return Shop(branch.id, zone, service.id, staff.id, ids)
