"""Every report against a plain Python computation over the same generated history, on both engines:
two branches (Shanghai, New York across its 2026-03-08 daylight-saving change), starts at random minutes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from appliance.auth.actor import system_actor
from appliance.catalog.tables import Branch, Resource, TimeOff
from appliance.core.db import json_value, uuid_value
from appliance.reports.logic import parse_query
from appliance.reports.queries import run_report
from appliance.reports.rollup import rebuild
from appliance.reports.schemas import Cell
from tests.appliance.reports.reference import Reference, scheduled_seconds
from tests.bench.booking_engine import BOOKING_COLUMNS, CUSTOMER_COLUMNS, insert_rows
from tests.bench.report_history import ReportCatalog, plan_history, seed_catalog, write_history

FIRST, LAST = date(2026, 2, 10), date(2026, 4, 20)


async def _seeded(bookings: int = 1500) -> tuple[ReportCatalog, Any]:
    catalog = await seed_catalog()
    history = plan_history(
        catalog, bookings, 250, start=datetime(2025, 12, 1, tzinfo=UTC), end=datetime(2026, 5, 1, tzinfo=UTC), seed=7
    )
    await write_history(history)
    return catalog, history


async def _report(
    name: str, bucket: str = "month", branch_id: UUID | None = None, period: tuple[date, date] = (FIRST, LAST)
) -> list[dict[str, Cell]]:
    query = parse_query(
        name, from_=period[0].isoformat(), to=period[1].isoformat(), bucket=bucket,
        branch_id=str(branch_id) if branch_id else None, format_=None,
    )
    return (await run_report(query, actor=system_actor())).rows


def _ref(
    catalog: ReportCatalog, history: Any, bucket: str = "month", branch: UUID | None = None,
    period: tuple[date, date] = (FIRST, LAST),
) -> Reference:
    zones = {b: z for b, z in catalog.branches.items() if branch is None or b == branch}
    filtered = type(history)(
        history.customers, [b for b in history.bookings if b[1] in zones], history.allocations, history.answers
    )
    return Reference(filtered, zones, *period, bucket)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def _check_bucketed(catalog: ReportCatalog, history: Any, bucket: str, branch: UUID | None) -> None:
    ref = _ref(catalog, history, bucket, branch)
    statuses = ("pending_approval", "confirmed", "checked_in", "completed", "cancelled", "no_show", "rejected")

    volume = await _report("volume", bucket, branch)
    assert {r["period"]: {k: r[k] for k in ("bookings", *statuses) if r[k]} for r in volume if r["bookings"] or r["rejected"]} == ref.volume()
    assert [r["period"] for r in volume] == sorted(str(r["period"]) for r in volume)  # every bucket, in order

    revenue = await _report("revenue_by_period", bucket, branch)
    assert {(r["period"], r["currency"]): (r["bookings"], r["revenue"]) for r in revenue} == ref.revenue_by(lambda b: [ref.label(b)])

    cancellations = await _report("cancellations", bucket, branch)
    expected = ref.cancellations()
    assert {r["period"]: (r["bookings"], r["cancelled"], r["no_show"]) for r in cancellations if r["bookings"]} == expected
    for r in cancellations:
        assert (r["cancellation_rate"], r["no_show_rate"]) == (_rate(r["cancelled"], r["bookings"]), _rate(r["no_show"], r["bookings"]))  # type: ignore[arg-type]

    returning = await _report("new_vs_returning", bucket, branch)
    assert {r["period"]: (r["customers"], r["new"]) for r in returning if r["customers"]} == ref.new_vs_returning()
    assert all(r["customers"] == r["new"] + r["returning"] for r in returning)  # type: ignore[operator]


async def test_every_report_agrees_with_a_plain_computation(database: str) -> None:
    catalog, history = await _seeded()
    staff = {r.id for r in catalog.resources if r.kind == "staff"}
    for branch in (None, *catalog.branches):
        for bucket in ("day", "week", "month"):
            await _check_bucketed(catalog, history, bucket, branch)
        ref = _ref(catalog, history, branch=branch)

        for name, key in (("revenue_by_service", "service_id"), ("revenue_by_branch", "branch_id")):
            rows = await _report(name, branch_id=branch)
            by = (lambda b: [b.service]) if key == "service_id" else (lambda b: [b.branch])
            assert {(UUID(str(r[key])), r["currency"]): (r["bookings"], r["revenue"]) for r in rows} == ref.revenue_by(by)
        rows = await _report("revenue_by_staff", branch_id=branch)
        assert {(UUID(str(r["staff_id"])), r["currency"]): (r["bookings"], r["revenue"]) for r in rows} == ref.revenue_by(
            lambda b: ref.staff_of(b, staff)
        )

        sources = await _report("customer_sources", branch_id=branch)
        assert {r["source"]: (r["customers"], r["bookings"]) for r in sources} == ref.customer_sources()

        popularity = await _report("service_popularity", branch_id=branch)
        assert {UUID(str(r["service_id"])): (r["bookings"], r["completed"], r["cancelled"], r["customers"]) for r in popularity} == ref.popularity()
        assert [r["bookings"] for r in popularity] == sorted((r["bookings"] for r in popularity), reverse=True)  # type: ignore[type-var]
        assert popularity[0]["rank"] == 1

        scheduled = await _scheduled(catalog, branch)
        booked = ref.booked_seconds()
        utilisation = await _report("resource_utilisation", branch_id=branch)
        assert {UUID(str(r["resource_id"])) for r in utilisation} == set(scheduled)
        for r in utilisation:
            resource_id = UUID(str(r["resource_id"]))
            assert r["scheduled_hours"] == round(scheduled[resource_id] / 3600, 2), r
            assert r["booked_hours"] == round(booked.get(resource_id, 0) / 3600, 2), r
            assert r["utilisation"] == _rate(booked.get(resource_id, 0), scheduled[resource_id])  # type: ignore[arg-type]

        performance = await _report("staff_performance", branch_id=branch)
        expected = ref.staff_performance(staff)
        assert {
            (UUID(str(r["staff_id"])), r["currency"]): (r["bookings"], r["completed"], r["no_show"], r["revenue"], r["ratings"], r["average_rating"])
            for r in performance if r["bookings"]
        } == expected
        for r in performance:
            resource_id = UUID(str(r["staff_id"]))
            assert r["scheduled_hours"] == round(scheduled[resource_id] / 3600, 2)
            assert r["no_show_rate"] == _rate(r["no_show"], r["bookings"])  # type: ignore[arg-type]

        cohorts = await _report("retention_cohorts", branch_id=branch)
        assert {(r["cohort"], r["months_after"]): r["customers"] for r in cohorts} == ref.retention()
        for r in cohorts:
            assert r["cohort_size"] == ref.retention()[(r["cohort"], 0)]


async def test_first_visit_reports_agree_over_whole_months_across_a_year_and_over_partial_ones(database: str) -> None:
    """Whole months read the customer years, partial ones the customer days: periods of only whole months
    (across New Year), of only partial ones, and of both."""
    catalog, history = await _seeded()
    periods = [(date(2025, 12, 1), date(2026, 4, 30)), (date(2026, 1, 5), date(2026, 2, 3)), (date(2025, 12, 17), date(2026, 3, 31))]
    for period in periods:
        for branch in (None, *catalog.branches):
            ref = _ref(catalog, history, branch=branch, period=period)
            returning = await _report("new_vs_returning", branch_id=branch, period=period)
            assert {r["period"]: (r["customers"], r["new"]) for r in returning if r["customers"]} == ref.new_vs_returning()
            cohorts = await _report("retention_cohorts", branch_id=branch, period=period)
            assert {(r["cohort"], r["months_after"]): r["customers"] for r in cohorts} == ref.retention()
            assert len(cohorts) >= 3  # customers of several cohorts came back


async def _scheduled(catalog: ReportCatalog, branch: UUID | None) -> dict[UUID, float]:
    """Scheduled seconds per resource, sampled from the stored schedules (see reference.scheduled_seconds)."""
    branches = {uuid_value(b["id"]): b for b in await Branch.select()}
    off: dict[UUID, list[tuple[datetime, datetime]]] = {}
    for t in await TimeOff.select():
        off.setdefault(uuid_value(t["resource"]), []).append((t["starts_at"], t["ends_at"]))
    found = {}
    for r in await Resource.select():
        if branch is not None and r["branch"] != branch:
            continue
        b = branches[uuid_value(r["branch"])]
        found[uuid_value(r["id"])] = scheduled_seconds(
            json_value(r["schedule"]), json_value(b["opening_hours"]) or {}, off.get(uuid_value(r["id"]), []),
            r["capacity"], ZoneInfo(b["timezone"]), FIRST, LAST,
        )
    return found


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Shanghai"])
async def test_a_booking_near_local_midnight_counts_on_its_local_day(database: str, zone: str) -> None:
    """23:30 local on 2026-03-07 is 2026-03-08 in UTC (New York) or still the 7th (Shanghai, 15:30 UTC)."""
    catalog, _ = await _seeded(bookings=0)
    branch = next(b for b, z in catalog.branches.items() if z == zone)
    service = next(s for s in catalog.services if s.branch == branch and not s.room)
    tz = ZoneInfo(zone)
    customer = UUID(int=1)
    moment = datetime(2026, 3, 7, 23, 30, tzinfo=tz).astimezone(UTC)
    await insert_rows("customer", CUSTOMER_COLUMNS, [(customer, "c", None, None, "web", moment, moment)])
    await insert_rows("booking", BOOKING_COLUMNS, [(
        UUID(int=2), branch, service.id, customer, moment, moment, "completed", "web", 1, 100, "CNY", "paid", "{}", "",
        "x" * 64, moment, moment,
    )])
    await rebuild()

    rows = await _report("volume", "day", branch)

    assert [r["period"] for r in rows if r["bookings"]] == ["2026-03-07"]
