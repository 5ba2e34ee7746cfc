"""The rollups' SQL for each engine: rows of the report_* tables derived from bookings, per branch and local day.

Every statement starts from a `scope` of rows (branch, tz, shift, lo, hi, first_day, last_day): the bookings
of a branch with lo <= starts_at < hi are derived again, and the rollup rows of its local days first_day..
last_day are deleted first. One scope row per branch range on PostgreSQL, where `starts_at AT TIME ZONE s.tz`
gives the local date. SQLite has no time-zone database: the caller cuts each range into spans of one constant
UTC offset (`bookings.logic.utc_offset_segments`), one scope row per span with its offset as a date modifier
(`shift`, e.g. '+28800 seconds'), so `date(starts_at, shift)` is the local date, across daylight-saving
changes too.

Filters (some resources, some customers) narrow what one booking's change derives again; their ids are
UUIDs, written into the text as literals.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final
from uuid import UUID

from appliance.core.db import Dialect
from appliance.reports.logic import HOLDING, NOT_VISITS

SCOPE_COLUMNS: Final = 7
STATUSES: Final = ("pending_approval", "confirmed", "checked_in", "completed", "cancelled", "no_show", "rejected")
FIRST_TABLES: Final = ("report_booking_day", "report_resource_day", "report_customer_day", "report_customer_first")
TABLES: Final = (*FIRST_TABLES, "report_customer_year")


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


HOLDING_SQL: Final = _quoted(HOLDING)
NOT_VISITS_SQL: Final = _quoted(NOT_VISITS)
FROM_SCOPE: Final = "FROM booking b JOIN scope s ON s.branch = b.branch AND b.starts_at >= s.lo AND b.starts_at < s.hi"


def earns(alias: str) -> str:
    """Revenue: the price of completed bookings and of paid ones, unless refunded (docs/reports.md)."""
    return f"({alias}.payment_status <> 'refunded' AND ({alias}.status = 'completed' OR {alias}.payment_status = 'paid'))"


def count_if(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def ids_in(column: str, ids: Sequence[UUID] | None) -> str:
    """` AND column IN (…)` for these ids, or nothing when every id counts."""
    if ids is None:
        return ""
    return f" AND {column} IN ({_quoted([str(UUID(str(i))) for i in ids]) or 'NULL'})"


def scope_cte(dialect: Dialect, rows: int) -> str:
    """`WITH scope AS (…)` of `rows` rows, SCOPE_COLUMNS parameters each."""
    if dialect == "postgresql":
        one = (
            "SELECT CAST({} AS UUID) AS branch, CAST({} AS TEXT) AS tz, CAST({} AS TEXT) AS shift, "
            "CAST({} AS TIMESTAMPTZ) AS lo, CAST({} AS TIMESTAMPTZ) AS hi, CAST({} AS DATE) AS first_day, "
            "CAST({} AS DATE) AS last_day"
        )
    else:
        one = "SELECT {} AS branch, {} AS tz, {} AS shift, {} AS lo, {} AS hi, {} AS first_day, {} AS last_day"
    return "WITH scope AS (" + " UNION ALL ".join([one] * rows) + ")\n"


def local_date(dialect: Dialect, column: str = "b.starts_at") -> str:
    """The local date of `column` in its scope row's zone."""
    if dialect == "postgresql":
        return f"CAST(({column} AT TIME ZONE s.tz) AS DATE)"
    return f"date({column}, s.shift)"


def year_of(dialect: Dialect, column: str) -> str:
    """The calendar year of the date `column`, a whole number."""
    if dialect == "postgresql":
        return f"CAST(EXTRACT(YEAR FROM {column}) AS INTEGER)"
    return f"CAST(strftime('%Y', {column}) AS INTEGER)"


def month_of(dialect: Dialect, column: str) -> str:
    """The month (1–12) of the date `column`."""
    if dialect == "postgresql":
        return f"CAST(EXTRACT(MONTH FROM {column}) AS INTEGER)"
    return f"CAST(strftime('%m', {column}) AS INTEGER)"


def seconds_between(dialect: Dialect, start: str, end: str) -> str:
    if dialect == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400)"


def delete(table: str, filter_sql: str = "") -> str:
    """The rows of the scope's local days, before they are derived again."""
    return (
        f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM scope s WHERE s.branch = {table}.branch"
        f" AND {table}.day >= s.first_day AND {table}.day <= s.last_day){filter_sql}"
    )


@functools.cache
def booking_days(dialect: Dialect) -> str:
    counts = ", ".join(count_if(f"b.status = '{s}'") for s in STATUSES)
    return f"""
INSERT INTO report_booking_day (branch, zone, day, service, currency, bookings, {", ".join(STATUSES)}, earning, revenue)
SELECT b.branch, s.tz, {local_date(dialect)}, b.service, b.price_currency, {count_if("b.status <> 'rejected'")}, {counts},
       {count_if(earns("b"))}, SUM(CASE WHEN {earns("b")} THEN b.price_amount ELSE 0 END)
{FROM_SCOPE}
GROUP BY b.branch, s.tz, {local_date(dialect)}, b.service, b.price_currency"""


def _credits(dialect: Dialect, resources: str) -> str:
    """One row per (booking, resource) it was served by: what it holds now, or, once it holds nothing
    (cancelled, no-show), what it held — as bookings.queries.resource_ids_of shows them. A booking that holds
    resources holds each once (the engine gives every place a different resource), so only the released
    allocations of the others, which may name a resource again after a reschedule, are deduplicated."""
    columns = f"b.id, b.branch, {local_date(dialect)} AS day, a.resource, b.status, b.payment_status, b.price_amount, b.price_currency"
    return f"""
SELECT {columns}
{FROM_SCOPE}
JOIN allocation a ON a.booking = b.id AND a.active{resources}
WHERE b.status IN ({HOLDING_SQL})
UNION ALL
SELECT DISTINCT {columns}
{FROM_SCOPE}
JOIN allocation a ON a.booking = b.id{resources}
WHERE b.status NOT IN ({HOLDING_SQL}) AND b.status <> 'rejected'"""


def _held(dialect: Dialect, resources: str) -> str:
    """Service time booked per resource. A booking's own allocations are one per resource; a group class's
    bookings share a holder on one unit and count once, so only theirs are deduplicated."""
    held = f"""{FROM_SCOPE}
  JOIN allocation a ON a.booking = b.id AND a.active{resources}
  WHERE b.status IN ({HOLDING_SQL})"""
    columns = f"b.branch, {local_date(dialect)} AS day, a.resource, b.price_currency, b.starts_at, b.ends_at"
    return f"""
SELECT {columns} {held} AND a.holder NOT LIKE '%@%'
UNION ALL
SELECT {columns} {held} AND a.holder LIKE '%@%'
GROUP BY b.branch, {local_date(dialect)}, a.resource, b.price_currency, a.unit, a.holder, b.starts_at, b.ends_at"""


def resource_days(dialect: Dialect, resources: Sequence[UUID] | None = None) -> str:
    only = ids_in("a.resource", resources)
    return f"""
INSERT INTO report_resource_day (branch, day, resource, currency, bookings, completed, no_show, earning, revenue,
                                 ratings, rating_sum, booked_seconds)
SELECT x.branch, x.day, x.resource, x.currency, SUM(x.bookings), SUM(x.completed), SUM(x.no_show), SUM(x.earning),
       SUM(x.revenue), SUM(x.ratings), SUM(x.rating_sum), SUM(x.seconds)
FROM (
  SELECT c.branch, c.day, c.resource, c.price_currency AS currency, 1 AS bookings,
         CASE WHEN c.status = 'completed' THEN 1 ELSE 0 END AS completed,
         CASE WHEN c.status = 'no_show' THEN 1 ELSE 0 END AS no_show,
         CASE WHEN {earns("c")} THEN 1 ELSE 0 END AS earning,
         CASE WHEN {earns("c")} THEN c.price_amount ELSE 0 END AS revenue,
         CASE WHEN sa.rating IS NULL THEN 0 ELSE 1 END AS ratings, COALESCE(sa.rating, 0) AS rating_sum,
         0.0 AS seconds
  FROM ({_credits(dialect, only)}) c LEFT JOIN survey_answer sa ON sa.booking = c.id
  UNION ALL
  SELECT h.branch, h.day, h.resource, h.price_currency, 0, 0, 0, 0, 0, 0, 0, {seconds_between(dialect, "h.starts_at", "h.ends_at")}
  FROM ({_held(dialect, only)}) h
) x
GROUP BY x.branch, x.day, x.resource, x.currency"""


def customer_days(dialect: Dialect, customers: Sequence[UUID] | None = None) -> str:
    return f"""
INSERT INTO report_customer_day (branch, day, customer, service, bookings, visits)
SELECT b.branch, {local_date(dialect)}, b.customer, b.service, COUNT(*), {count_if(f"b.status NOT IN ({NOT_VISITS_SQL})")}
{FROM_SCOPE}
WHERE b.status <> 'rejected'{ids_in("b.customer", customers)}
GROUP BY b.branch, {local_date(dialect)}, b.customer, b.service"""


def delete_firsts(customers: Sequence[UUID] | None = None) -> str:
    return f"DELETE FROM report_customer_first WHERE branch IN (SELECT branch FROM scope){ids_in('customer', customers)}"


def customer_firsts(customers: Sequence[UUID] | None = None) -> str:
    """First visits again from the customer days (after those were derived again)."""
    return f"""
INSERT INTO report_customer_first (branch, customer, first_day)
SELECT r.branch, r.customer, MIN(r.day) FROM report_customer_day r
WHERE r.visits > 0 AND r.branch IN (SELECT branch FROM scope){ids_in("r.customer", customers)}
GROUP BY r.branch, r.customer"""


def _in_scope_years(dialect: Dialect, alias: str, year: str) -> str:
    """The scope holds the year `year` of the row's branch: a customer year depends on every day of it."""
    return (
        f"EXISTS (SELECT 1 FROM scope s WHERE s.branch = {alias}.branch"
        f" AND {year} >= {year_of(dialect, 's.first_day')} AND {year} <= {year_of(dialect, 's.last_day')})"
    )


def delete_years(dialect: Dialect, customers: Sequence[UUID] | None = None) -> str:
    table = "report_customer_year"
    return f"DELETE FROM {table} WHERE {_in_scope_years(dialect, table, f'{table}.year')}{ids_in(f'{table}.customer', customers)}"


def customer_years(dialect: Dialect, customers: Sequence[UUID] | None = None) -> str:
    """The visited months of each year the scope touches, again from the customer days (after those were
    derived again). SUM of the DISTINCT month bits is their OR, on both engines."""
    year = year_of(dialect, "r.day")
    return f"""
INSERT INTO report_customer_year (branch, customer, year, visited)
SELECT r.branch, r.customer, {year}, SUM(DISTINCT 1 << ({month_of(dialect, "r.day")} - 1))
FROM report_customer_day r
WHERE r.visits > 0 AND {_in_scope_years(dialect, "r", year)}{ids_in("r.customer", customers)}
GROUP BY r.branch, r.customer, {year}"""
