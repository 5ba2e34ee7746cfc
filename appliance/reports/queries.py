"""Answer a report: the branches the caller may see, the rollups it reads taken up to date, one aggregate query
over them, then the table's rows."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings.logic import (
    parse_schedule, parse_weekly, scheduled_ranges, within_opening_hours,
)
from appliance.bookings.tables import Booking
from appliance.core.db import current_dialect, current_engine, instant_value, json_value, uuid_value
from appliance.core.errors import Invalid
from appliance.reports import sql
from appliance.reports.logic import (
    MonthSplit, ReportQuery, buckets_between, hours, month_first, month_label, month_number, period_bounds, rate,
    split_months,
)
from appliance.reports.schemas import Cell, ReportTable
from appliance.reports.stale import refresh_for_report

REPORT_WORK_MEM: Final = "64MB"

Row = dict[str, Cell]


@dataclass(frozen=True)
class ScopeBranch:
    id: UUID
    name: str
    tz: ZoneInfo


async def branches_for(actor: Actor, branch_id: UUID | None) -> list[ScopeBranch]:
    """The branches a report covers: the one asked for, or every branch the caller has reports.read in."""
    reach = actor.branch_scope(Permission.reports_read)
    rows = await Booking.raw("SELECT id, name, timezone FROM branch ORDER BY name, id")
    found = [ScopeBranch(uuid_value(r["id"]), r["name"], ZoneInfo(r["timezone"])) for r in rows]
    found = [b for b in found if reach is None or b.id in reach]
    if branch_id is not None:
        found = [b for b in found if b.id == branch_id]
        if not found:
            raise Invalid({"branch_id": "no such branch among those you may report on"})
    return found


def _scope(query: ReportQuery, branches: Sequence[ScopeBranch]) -> sql.Scope:
    return sql.Scope([b.id for b in branches], query.first_day, query.last_day)


async def _rows(branches: Sequence[ScopeBranch], text: str, *, serial: bool = False) -> list[dict[str, Any]]:
    """`serial`: no parallel plan on PostgreSQL, for a query whose parallel plan would build the same
    hash in every process (twice the work on two cores, and no sooner on more)."""
    if not branches:
        return []
    if current_dialect() == "sqlite":
        rows: list[dict[str, Any]] = await Booking.raw(text)
        return rows
    engine = current_engine()
    async with engine.transaction():
        # The default 4 MB makes a GROUP BY or DISTINCT over the customer days spill to disk; a report is one query.
        await engine.run_ddl(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        # Compiling a plan this size costs about 0.4 s, more than the sums it would speed up.
        await engine.run_ddl("SET LOCAL jit = off")
        if serial:
            await engine.run_ddl("SET LOCAL max_parallel_workers_per_gather = 0")
        rows = await Booking.raw(text)
    return rows


def _day_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _int(value: Any) -> int:
    return int(value or 0)


def _filled(query: ReportQuery, rows: Mapping[str, Row], empty: Callable[[str], Row]) -> list[Row]:
    """Every bucket of the period in order, empty ones included."""
    labels = [d.isoformat() for d in buckets_between(query.first_day, query.last_day, query.bucket)]
    labels += sorted(set(rows) - set(labels))  # cannot happen with in-period bookings; never drop one
    return [rows.get(label) or empty(label) for label in labels]


# --- the reports -------------------------------------------------------------------------------------


async def _volume(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    keys = [c.key for c in query.report.columns[1:]]
    found = await _rows(branches, sql.volume(current_dialect(), query.bucket, _scope(query, branches)))
    by_period: dict[str, Row] = {
        _day_text(r["period"]): {"period": _day_text(r["period"]), **{k: _int(r[k]) for k in keys}} for r in found
    }
    return _filled(query, by_period, lambda label: {"period": label, **{k: 0 for k in keys}})


def _money_rows(found: list[dict[str, Any]], first: str, second: str | None = None) -> list[Row]:
    rows: list[Row] = []
    for r in found:
        row: Row = {first: _day_text(r["period"])} if second is None else {first: str(uuid_value(r["key"])), second: r["name"]}
        row.update(currency=r["currency"], bookings=_int(r["bookings"]), revenue=_int(r["revenue"]))
        rows.append(row)
    return rows


async def _revenue_by_period(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    found = await _rows(branches, sql.revenue_by_period(current_dialect(), query.bucket, _scope(query, branches)))
    return sorted(_money_rows(found, "period"), key=lambda r: (str(r["period"]), str(r["currency"])))


def _by_revenue(rows: list[Row], name: str) -> list[Row]:
    return sorted(rows, key=lambda r: (-_int(r["revenue"]), str(r["currency"]), str(r[name])))


async def _revenue_by_service(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    return _by_revenue(_money_rows(await _rows(branches, sql.revenue_by_service(_scope(query, branches))), "service_id", "service"), "service")


async def _revenue_by_staff(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    return _by_revenue(_money_rows(await _rows(branches, sql.revenue_by_staff(_scope(query, branches))), "staff_id", "staff"), "staff")


async def _revenue_by_branch(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    return _by_revenue(_money_rows(await _rows(branches, sql.revenue_by_branch(_scope(query, branches))), "branch_id", "branch"), "branch")


async def _customer_sources(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    # In parallel, every process would sum the customer days per customer to probe its share of customers.
    found = await _rows(branches, sql.customer_sources(_scope(query, branches)), serial=True)
    total = sum(_int(r["customers"]) for r in found)  # each customer has one source: the groups add up
    rows: list[Row] = [
        {"source": r["source"] or "", "customers": _int(r["customers"]), "bookings": _int(r["bookings"]),
         "share": rate(_int(r["customers"]), total)}
        for r in found
    ]
    return sorted(rows, key=lambda r: (-_int(r["customers"]), str(r["source"])))


async def _service_popularity(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    found = await _rows(branches, sql.service_popularity(_scope(query, branches)))
    ordered = sorted(found, key=lambda r: (-_int(r["bookings"]), r["name"], str(r["key"])))
    rows: list[Row] = []
    for position, r in enumerate(ordered, start=1):
        # Ties share a rank ("1, 1, 3"), as a popularity table reads.
        rank = rows[-1]["rank"] if rows and rows[-1]["bookings"] == _int(r["bookings"]) else position
        rows.append({
            "rank": rank, "service_id": str(uuid_value(r["key"])), "service": r["name"], "bookings": _int(r["bookings"]),
            "completed": _int(r["completed"]), "cancelled": _int(r["cancelled"]), "customers": _int(r["customers"]),
        })
    return rows


@dataclass(frozen=True)
class _Utilisation:
    name: str
    kind: str
    capacity: int
    booked_s: float
    scheduled_s: float


async def _scheduled_seconds(query: ReportQuery, branches: Sequence[ScopeBranch], kind: str | None) -> dict[UUID, tuple[dict[str, Any], float]]:
    """Per resource of the branches (active ones, and any with bookings: the caller adds those), its row
    and the seconds its units are scheduled over the period: weekly hours and exceptions cut to the branch's
    opening hours, less blocks and time off, per local date in the branch's zone."""
    zones = {b.id: b for b in branches}
    ids = list(zones)
    marks = ", ".join(["{}"] * len(ids))
    kind_filter = " AND r.kind = {}" if kind else ""
    resources = await Booking.raw(
        "SELECT r.id, r.branch, r.kind, r.name, r.capacity, r.schedule, r.active, b.opening_hours FROM resource r"
        f" JOIN branch b ON b.id = r.branch WHERE r.branch IN ({marks}){kind_filter}", *ids, *([kind] if kind else []),
    )
    starts = min(period_bounds(query.first_day, query.last_day, b.tz)[0] for b in branches)
    ends = max(period_bounds(query.first_day, query.last_day, b.tz)[1] for b in branches)
    off_rows = await Booking.raw(
        f"SELECT t.resource, t.starts_at, t.ends_at FROM time_off t JOIN resource r ON r.id = t.resource"
        f" WHERE r.branch IN ({marks}) AND t.starts_at < {{}} AND t.ends_at > {{}}", *ids, ends, starts,
    )
    time_off: dict[UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    for row in off_rows:
        time_off[uuid_value(row["resource"])].append((instant_value(row["starts_at"]), instant_value(row["ends_at"])))
    found: dict[UUID, tuple[dict[str, Any], float]] = {}
    # Staff of a branch mostly share a pattern: expand each distinct one once (a year of days takes
    # milliseconds per pattern, and a branch may have a hundred resources).
    by_pattern: dict[tuple[str, str, str, tuple[tuple[datetime, datetime], ...]], float] = {}
    for row in resources:
        resource_id, branch = uuid_value(row["id"]), zones[uuid_value(row["branch"])]
        schedule, opening = json_value(row["schedule"]) or {}, json_value(row["opening_hours"]) or {}
        off = tuple(sorted(time_off[resource_id]))
        key = (json.dumps(schedule, sort_keys=True), json.dumps(opening, sort_keys=True), branch.tz.key, off)
        if (seconds := by_pattern.get(key)) is None:
            hours_ = within_opening_hours(parse_schedule(schedule), parse_weekly(opening))
            ranges = scheduled_ranges(hours_, off, tz=branch.tz, first_day=query.first_day, last_day=query.last_day)
            seconds = by_pattern[key] = sum((b - a).total_seconds() for a, b in ranges)
        found[resource_id] = (row, seconds * int(row["capacity"]))
    return found


async def _utilisation(query: ReportQuery, branches: Sequence[ScopeBranch], kind: str | None) -> dict[UUID, _Utilisation]:
    scheduled = await _scheduled_seconds(query, branches, kind)
    booked = {uuid_value(r["key"]): float(r["seconds"] or 0) for r in await _rows(branches, sql.booked_seconds(_scope(query, branches)))}
    return {
        resource_id: _Utilisation(row["name"], row["kind"], int(row["capacity"]), booked.get(resource_id, 0.0), seconds)
        for resource_id, (row, seconds) in scheduled.items()
        if row["active"] or resource_id in booked
    }


def _utilisation_cells(u: _Utilisation) -> Row:
    return {
        "booked_hours": hours(u.booked_s), "scheduled_hours": hours(u.scheduled_s),
        "utilisation": rate(u.booked_s, u.scheduled_s),
    }


async def _resource_utilisation(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    found = await _utilisation(query, branches, None)
    rows: list[Row] = [
        {"resource_id": str(rid), "resource": u.name, "kind": u.kind, "capacity": u.capacity, **_utilisation_cells(u)}
        for rid, u in found.items()
    ]
    return sorted(rows, key=lambda r: (str(r["kind"]), str(r["resource"]), str(r["resource_id"])))


async def _staff_performance(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    staff = await _utilisation(query, branches, "staff")
    found = await _rows(branches, sql.staff_performance(_scope(query, branches)))
    rows: list[Row] = []
    seen: set[UUID] = set()
    for r in found:
        resource_id = uuid_value(r["key"])
        seen.add(resource_id)
        u = staff.get(resource_id) or _Utilisation("", "staff", 1, 0.0, 0.0)
        ratings = _int(r["ratings"])
        rows.append({
            "staff_id": str(resource_id), "staff": u.name, "bookings": _int(r["bookings"]), "completed": _int(r["completed"]),
            "no_show": _int(r["no_show"]), "no_show_rate": rate(_int(r["no_show"]), _int(r["bookings"])),
            "currency": r["currency"], "revenue": _int(r["revenue"]), **_utilisation_cells(u), "ratings": ratings,
            "average_rating": round(float(r["rating_sum"]) / ratings, 2) if ratings else None,
        })
    for resource_id, u in staff.items():
        if resource_id not in seen:
            rows.append({
                "staff_id": str(resource_id), "staff": u.name, "bookings": 0, "completed": 0, "no_show": 0,
                "no_show_rate": None, "currency": None, "revenue": 0, **_utilisation_cells(u), "ratings": 0,
                "average_rating": None,
            })
    return sorted(rows, key=lambda r: (str(r["staff"]), str(r["staff_id"]), str(r["currency"])))


async def _cancellations(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    found = await _rows(branches, sql.cancellations(current_dialect(), query.bucket, _scope(query, branches)))

    def row(label: str, bookings: int, cancelled: int, no_show: int) -> Row:
        return {
            "period": label, "bookings": bookings, "cancelled": cancelled, "no_show": no_show,
            "cancellation_rate": rate(cancelled, bookings), "no_show_rate": rate(no_show, bookings),
        }

    by_period = {
        _day_text(r["period"]): row(_day_text(r["period"]), _int(r["bookings"]), _int(r["cancelled"]), _int(r["no_show"]))
        for r in found
    }
    return _filled(query, by_period, lambda label: row(label, 0, 0, 0))


def _month_split(query: ReportQuery) -> MonthSplit:
    """Whole months come from the customer years; a trend by day or week reads the customer days throughout."""
    if query.bucket == "month":
        return split_months(query.first_day, query.last_day)
    return MonthSplit(None, ((query.first_day, query.last_day),))


def _months_of(row: Mapping[str, Any], months: tuple[int, int]) -> list[tuple[int, int]]:
    """(month number, index 0–11) of a customer-years row's months that lie in `months`."""
    year = _int(row["year"])
    return [(year * 12 + k, k) for k in range(12) if months[0] <= year * 12 + k <= months[1]]


async def _new_vs_returning(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    by_period: dict[str, Row] = {}

    def add(label: str, customers: int, new: int) -> None:
        by_period[label] = {"period": label, "customers": customers, "new": new, "returning": customers - new}

    split, ids = _month_split(query), [b.id for b in branches]
    for first, last in split.partial:
        for r in await _rows(branches, sql.new_vs_returning(current_dialect(), query.bucket, sql.Scope(ids, first, last))):
            add(_day_text(r["period"]), _int(r["customers"]), _int(r["new"]))
    if split.whole:
        scope = _scope(query, branches)
        new = {
            _int(r["month"]): _int(r["customers"])
            for r in await _rows(branches, sql.newcomers_by_month(current_dialect(), scope, split.whole))
        }
        for r in await _rows(branches, sql.visitors_by_month(current_dialect(), scope, split.whole)):
            for month, k in _months_of(r, split.whole):
                if _int(r[f"m{k}"]):
                    add(month_first(month).isoformat(), _int(r[f"m{k}"]), new.get(month, 0))
    return _filled(query, by_period, lambda label: {"period": label, "customers": 0, "new": 0, "returning": 0})


async def _retention_cohorts(query: ReportQuery, branches: Sequence[ScopeBranch]) -> list[Row]:
    counts: dict[tuple[int, int], int] = {}  # (cohort, month) → customers of the cohort visiting that month
    split, ids = split_months(query.first_day, query.last_day), [b.id for b in branches]
    for first, last in split.partial:
        for r in await _rows(branches, sql.retention(current_dialect(), sql.Scope(ids, first, last), query.first_day)):
            counts[month_number(_date(r["cohort"])), month_number(_date(r["month"]))] = _int(r["customers"])
    if split.whole:
        found = await _rows(branches, sql.retention_months(current_dialect(), _scope(query, branches), split.whole, query.first_day))
        for r in found:
            for month, k in _months_of(r, split.whole):
                if _int(r[f"m{k}"]):
                    counts[_int(r["cohort"]), month] = _int(r[f"m{k}"])
    sizes = {cohort: n for (cohort, month), n in counts.items() if month == cohort}
    rows: list[Row] = [
        {
            "cohort": month_label(cohort), "cohort_size": sizes.get(cohort, 0), "months_after": month - cohort,
            "customers": n, "retention": rate(n, sizes.get(cohort, 0)),
        }
        for (cohort, month), n in counts.items()
    ]
    return sorted(rows, key=lambda r: (str(r["cohort"]), _int(r["months_after"])))


_ANSWERS: Final[dict[str, Callable[[ReportQuery, Sequence[ScopeBranch]], Awaitable[list[Row]]]]] = {
    "volume": _volume,
    "revenue_by_period": _revenue_by_period,
    "revenue_by_service": _revenue_by_service,
    "revenue_by_staff": _revenue_by_staff,
    "revenue_by_branch": _revenue_by_branch,
    "customer_sources": _customer_sources,
    "service_popularity": _service_popularity,
    "staff_performance": _staff_performance,
    "resource_utilisation": _resource_utilisation,
    "cancellations": _cancellations,
    "new_vs_returning": _new_vs_returning,
    "retention_cohorts": _retention_cohorts,
}


# Reports over customers' first visits (report_customer_first, ever, in the branches): a change on any day of
# their branches can move those, so all of the branches' stale marks are taken in first, not only the period's.
SINCE_FIRST_VISITS: Final = frozenset({"new_vs_returning", "retention_cohorts"})


async def run_report(query: ReportQuery, *, actor: Actor) -> ReportTable:
    branches = await branches_for(actor, query.branch_id)
    period = None if query.report.name in SINCE_FIRST_VISITS else (query.first_day, query.last_day)
    await refresh_for_report({b.id: b.tz for b in branches}, period)
    rows = await _ANSWERS[query.report.name](query, branches)
    return ReportTable(
        name=query.report.name, title_zh=query.report.title_zh, title_en=query.report.title_en,
        from_=query.first_day, to=query.last_day, bucket=query.bucket if query.report.bucketed else None,
        branch_ids=[b.id for b in branches], columns=[c.key for c in query.report.columns], rows=rows,
    )
