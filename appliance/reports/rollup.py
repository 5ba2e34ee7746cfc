"""Deriving the report rollups (reports.tables) again: for local days of a branch (the days marked stale by
booking changes, appliance.reports.stale; the days an import wrote) or, in a rebuild, for all of them.

Rows are derived from the bookings rather than incremented: a day's rows are deleted and computed again, so
however changes repeat or interleave they cannot drift from what the reports would compute over the bookings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.bookings.logic import utc_offset_segments
from appliance.bookings.tables import Booking
from appliance.core.db import Dialect, current_dialect, instant_value, uuid_value, write_transaction
from appliance.reports import rollup_sql as sql
from appliance.reports.logic import period_bounds

ROLLUP_LOCK: Final = "reports.rollup"  # taken shared by every refresh, alone by a rebuild


@dataclass(frozen=True)
class DayRange:
    """Local dates first..last of one branch, in its zone."""

    branch: UUID
    tz: ZoneInfo
    first: date
    last: date


def _scope_args(dialect: Dialect, ranges: Sequence[DayRange]) -> tuple[int, list[Any]]:
    """The scope CTE's rows (count, parameters): per range on PostgreSQL, per constant-offset span on SQLite."""
    args: list[Any] = []
    count = 0
    for r in ranges:
        lo, hi = period_bounds(r.first, r.last, r.tz)
        if dialect == "postgresql":
            args += [r.branch, r.tz.key, "", lo, hi, r.first, r.last]
            count += 1
            continue
        for seg_from, seg_to, offset in utc_offset_segments(r.tz, r.first, r.last):
            low, high = max(seg_from, lo), min(seg_to, hi)
            if low < high:
                args += [r.branch, r.tz.key, f"{int(offset.total_seconds()):+d} seconds", low, high, r.first, r.last]
                count += 1
    return count, args


async def refresh_days(
    ranges: Sequence[DayRange], *, resources: Sequence[UUID] | None = None, customers: Sequence[UUID] | None = None,
    years: bool = True,
) -> None:
    """Derive the rollups of these local days again: every booking day; the resource days of `resources` and
    the customer days, first visits and customer years of `customers` (all of them when None). `years=False`:
    before the customer years' table exists. Joins the caller's transaction."""
    dialect = current_dialect()
    count, args = _scope_args(dialect, ranges)
    if count == 0:
        return
    scope = sql.scope_cte(dialect, count)
    keys = [f"day:{r.branch}:{r.first + timedelta(days=n)}" for r in ranges for n in range((r.last - r.first).days + 1)]
    statements = (
        (sql.delete("report_booking_day"), sql.booking_days(dialect)),
        (sql.delete("report_resource_day", sql.ids_in("report_resource_day.resource", resources)),
         sql.resource_days(dialect, resources)),
        (sql.delete("report_customer_day", sql.ids_in("report_customer_day.customer", customers)),
         sql.customer_days(dialect, customers)),
        (sql.delete_firsts(customers), sql.customer_firsts(customers)),
        (sql.delete_years(dialect, customers), sql.customer_years(dialect, customers)) if years else (),
    )
    async with write_transaction():
        await _serialise(keys + [f"customer:{c}" for c in customers or ()])
        for statement in (s for pair in statements for s in pair):
            await Booking.raw(scope + statement, *args)


async def _serialise(keys: Sequence[str], *, whole: bool = False) -> None:
    """PostgreSQL: wait for any other transaction deriving the same days or customers to commit (without this
    two concurrent changes of one day would each delete what they see and both insert: doubled rows), and for a
    rebuild (`whole`), for all of them. Keys in one order everywhere, so that two refreshes never deadlock.
    SQLite runs one writer at a time already."""
    if current_dialect() != "postgresql":
        return
    if whole:
        await Booking.raw("SELECT pg_advisory_xact_lock(hashtext({})) AS held", ROLLUP_LOCK)
        return
    await Booking.raw("SELECT pg_advisory_xact_lock_shared(hashtext({})) AS held", ROLLUP_LOCK)
    if keys:
        # A volatile function in the select list runs after ORDER BY: the locks are taken in key order.
        await Booking.raw(
            "SELECT pg_advisory_xact_lock(hashtext(k)) AS held FROM unnest(CAST({} AS TEXT[])) AS k ORDER BY k",
            sorted(set(keys)),
        )


async def branch_zones(branches: Iterable[UUID] | None = None) -> dict[UUID, ZoneInfo]:
    rows = await Booking.raw("SELECT id, timezone FROM branch")
    wanted = None if branches is None else set(branches)
    return {
        uuid_value(r["id"]): ZoneInfo(r["timezone"]) for r in rows if wanted is None or uuid_value(r["id"]) in wanted
    }


def _local_day(instant: Any, tz: ZoneInfo) -> date:
    return instant_value(instant).astimezone(tz).date()


def _spanned(rows: Iterable[dict[str, Any]], zones: dict[UUID, ZoneInfo]) -> list[DayRange]:
    """Rows of (branch, first, last) starts as the local days between them."""
    ranges = []
    for r in rows:
        tz = zones[uuid_value(r["branch"])]
        ranges.append(DayRange(uuid_value(r["branch"]), tz, _local_day(r["first"], tz), _local_day(r["last"], tz)))
    return ranges


async def rebuild(branches: Sequence[UUID] | None = None, *, first_rollups_only: bool = False) -> None:
    """Every rollup row of these branches (all when None) derived again from all their bookings: after a bulk
    write, a time-zone change, or to set the rollups right whatever happened (`appliance reports rebuild`).
    Their stale marks go first, so that every change marked until then is seen by the statements after it,
    and a change marked meanwhile keeps its mark. `first_rollups_only`: the migration that first built the
    rollups, before the marks' and the customer years' tables exist."""
    zones = await branch_zones(branches)
    async with write_transaction():
        await _serialise((), whole=True)
        places = ", ".join(["{}"] * len(zones))
        # Every row when rebuilding all: none may outlive its branch.
        rollups = sql.FIRST_TABLES if first_rollups_only else sql.TABLES
        for table in rollups if first_rollups_only else ("report_stale", *rollups):
            await Booking.raw(f"DELETE FROM {table}" + ("" if branches is None else f" WHERE branch IN ({places})"), *(
                [] if branches is None else zones
            ))
        if not zones:
            return
        spans = await Booking.raw(
            f"SELECT branch, MIN(starts_at) AS first, MAX(starts_at) AS last FROM booking WHERE branch IN ({places})"
            " GROUP BY branch", *zones,
        )
        await refresh_days(_spanned(spans, zones), years=not first_rollups_only)
        if current_dialect() == "postgresql":
            # Fresh statistics, or the first reports plan for empty tables (nested loops over a million rows).
            for table in rollups:
                await Booking.raw(f"ANALYZE {table}")


def day_ranges(days: Iterable[tuple[UUID, date]], zones: dict[UUID, ZoneInfo]) -> list[DayRange]:
    """(branch, local date) pairs as ranges, consecutive dates of a branch joined: one scope row each."""
    by_branch: dict[UUID, set[date]] = defaultdict(set)
    for branch, day in days:
        by_branch[branch].add(day)
    ranges: list[DayRange] = []
    for branch, dates in sorted(by_branch.items()):
        ordered = sorted(dates)
        first = last = ordered[0]
        for day in ordered[1:]:
            if day != last + timedelta(days=1):
                ranges.append(DayRange(branch, zones[branch], first, last))
                first = day
            last = day
        ranges.append(DayRange(branch, zones[branch], first, last))
    return ranges


async def refresh_at(
    starts: Iterable[tuple[UUID, datetime]], *, resources: Sequence[UUID] | None, customers: Sequence[UUID] | None,
    zones: dict[UUID, ZoneInfo] | None = None,
) -> None:
    """The rollups of the local days holding these (branch, instant) starts, for `resources` and `customers`
    (all when None): after a bulk write of bookings (an import), or for the stale marks of changes."""
    pairs = list(starts)
    zones = zones or await branch_zones({branch for branch, _ in pairs})
    days = {(branch, _local_day(moment, zones[branch])) for branch, moment in pairs}
    await refresh_days(day_ranges(days, zones), resources=resources, customers=customers)
