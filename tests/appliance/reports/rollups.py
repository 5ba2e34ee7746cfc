"""What the rollup and stale-mark tests share: a salon to book in, local times, and the rollups as a report
leaves them, checked against a rebuild from the bookings."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from appliance.auth.actor import cli_actor
from appliance.bookings.tables import Booking
from appliance.catalog.schemas import WEEKDAYS, Money, Schedule
from appliance.reports.logic import parse_query
from appliance.reports.queries import run_report
from appliance.reports.rollup import rebuild
from appliance.reports.rollup_sql import TABLES
from appliance.reports.schemas import ReportTable
from appliance.testing.builders import make_branch, make_resource, make_service

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACTOR = cli_actor()


async def rollups() -> dict[str, list[tuple[str, ...]]]:
    found = {}
    for table in TABLES:
        rows = await Booking.raw(f"SELECT * FROM {table}")
        found[table] = sorted(tuple(f"{k}={v}" for k, v in sorted(r.items()) if k != "id") for r in rows)
    return found


async def report(name: str, first: date, last: date, bucket: str = "day") -> ReportTable:
    return await run_report(parse_query(
        name, from_=first.isoformat(), to=last.isoformat(), bucket=bucket, branch_id=None, format_=None,
    ), actor=ACTOR)


async def kept(first: date | None = None, last: date | None = None) -> dict[str, list[tuple[str, ...]]]:
    """The rollups as a report leaves them after the changes (a volume report over first..last, else one over
    first visits, which takes in every stale mark), checked against a rebuild from the bookings."""
    if first and last:
        await report("volume", first, last)
    else:
        await report("new_vs_returning", date.today() - timedelta(days=500), date.today() + timedelta(days=500), "month")
    assert await Booking.raw("SELECT id FROM report_stale") == []
    found = await rollups()
    await rebuild()
    assert found == await rollups()
    return found


async def day_rows(table: str, day: date, **where: Any) -> list[dict[str, Any]]:
    clauses = "".join(f" AND {k} = {{}}" for k in where)
    return list(await Booking.raw(f"SELECT * FROM {table} WHERE day = {{}}{clauses}", day, *where.values()))


def local(day: date, hour: int, tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=tz)


async def salon(name: str = "静安店") -> tuple[Any, Any, Any, Any]:
    """A branch open 06:00–18:00 with two staff and one service: (branch, first staff, second staff, service)."""
    branch = await make_branch(name)
    early = msgspec.convert({"weekly": {day: [("06:00", "18:00")] for day in WEEKDAYS}}, Schedule)
    first = await make_resource(branch.id, name="王芳", schedule=early)
    second = await make_resource(branch.id, name="李静", schedule=early)
    service = await make_service(branch.id, price=Money(amount=19800, currency="CNY"))
    return branch, first, second, service
