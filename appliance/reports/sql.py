"""The reports' SQL for each engine: sums over the rollups (reports.tables), whose days are already local to
each booking's branch, so a period is a plain range of dates and a week or month a date truncated.

The branch ids and dates a report asks about are typed values (UUID, date) written into the text as literals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final
from uuid import UUID

from appliance.core.db import Dialect
from appliance.reports.catalogue import Bucket
from appliance.reports.rollup_sql import STATUSES, ids_in, month_of, year_of


@dataclass(frozen=True)
class Scope:
    """The branches and the local dates first..last a report covers."""

    branches: Sequence[UUID]
    first: date
    last: date

    def rows(self, alias: str = "r") -> str:
        """The rollup rows of the period."""
        return f"{self.reach(alias)} AND {alias}.day >= '{self.first.isoformat()}' AND {alias}.day <= '{self.last.isoformat()}'"

    def reach(self, alias: str = "r") -> str:
        """The rollup rows of the branches, whatever the day."""
        return f"TRUE{ids_in(f'{alias}.branch', self.branches)}"


def bucket_of(dialect: Dialect, bucket: Bucket, column: str = "r.day") -> str:
    """The first date of the bucket holding the date `column`: itself, its ISO week's Monday, its month's first."""
    if bucket == "day":
        return column
    if dialect == "postgresql":
        return f"CAST(date_trunc('{bucket}', CAST({column} AS TIMESTAMP)) AS DATE)"
    modifier = {"week": "'-6 days', 'weekday 1'", "month": "'start of month'"}[bucket]
    return f"date({column}, {modifier})"


def volume(dialect: Dialect, bucket: Bucket, scope: Scope) -> str:
    sums = ", ".join(f"SUM(r.{s}) AS {s}" for s in STATUSES)
    return f"""
SELECT {bucket_of(dialect, bucket)} AS period, SUM(r.bookings) AS bookings, {sums}
FROM report_booking_day r WHERE {scope.rows()}
GROUP BY 1"""


def revenue_by_period(dialect: Dialect, bucket: Bucket, scope: Scope) -> str:
    return f"""
SELECT {bucket_of(dialect, bucket)} AS period, r.currency AS currency, SUM(r.earning) AS bookings, SUM(r.revenue) AS revenue
FROM report_booking_day r WHERE {scope.rows()}
GROUP BY 1, 2 HAVING SUM(r.earning) > 0"""


def _revenue_by(rollup: str, table: str, key: str, scope: Scope, kind: str = "") -> str:
    """Revenue grouped by the row of `table` each rollup row points to through `key`."""
    return f"""
SELECT t.id AS key, t.name AS name, r.currency AS currency, SUM(r.earning) AS bookings, SUM(r.revenue) AS revenue
FROM {rollup} r JOIN {table} t ON t.id = r.{key}{kind}
WHERE {scope.rows()}
GROUP BY t.id, t.name, r.currency HAVING SUM(r.earning) > 0"""


_STAFF: Final = " AND t.kind = 'staff'"


def revenue_by_service(scope: Scope) -> str:
    return _revenue_by("report_booking_day", "service", "service", scope)


def revenue_by_branch(scope: Scope) -> str:
    return _revenue_by("report_booking_day", "branch", "branch", scope)


def revenue_by_staff(scope: Scope) -> str:
    return _revenue_by("report_resource_day", "resource", "resource", scope, _STAFF)


def staff_performance(scope: Scope) -> str:
    """A booking with two staff credits both in full (the rollup holds one credit per staff member)."""
    return f"""
SELECT r.resource AS key, r.currency AS currency, SUM(r.bookings) AS bookings, SUM(r.completed) AS completed,
       SUM(r.no_show) AS no_show, SUM(r.revenue) AS revenue, SUM(r.ratings) AS ratings, SUM(r.rating_sum) AS rating_sum
FROM report_resource_day r JOIN resource t ON t.id = r.resource{_STAFF}
WHERE {scope.rows()}
GROUP BY r.resource, r.currency HAVING SUM(r.bookings) > 0"""


def booked_seconds(scope: Scope) -> str:
    return f"""
SELECT r.resource AS key, SUM(r.booked_seconds) AS seconds
FROM report_resource_day r WHERE {scope.rows()}
GROUP BY r.resource HAVING SUM(r.booked_seconds) > 0"""


def customer_sources(scope: Scope) -> str:
    """Per customer first (a hash of a hundred thousand, not a sort of a million), then per source."""
    return f"""
SELECT c.source_channel AS source, COUNT(*) AS customers, SUM(x.bookings) AS bookings
FROM (SELECT r.customer, SUM(r.bookings) AS bookings FROM report_customer_day r WHERE {scope.rows()} GROUP BY r.customer) x
JOIN customer c ON c.id = x.customer
GROUP BY c.source_channel"""


def service_popularity(scope: Scope) -> str:
    return f"""
WITH counts AS (SELECT r.service, SUM(r.bookings) AS bookings, SUM(r.completed) AS completed, SUM(r.cancelled) AS cancelled
                FROM report_booking_day r WHERE {scope.rows()} GROUP BY r.service HAVING SUM(r.bookings) > 0),
     people AS (SELECT x.service, COUNT(*) AS customers
                FROM (SELECT DISTINCT r.service, r.customer FROM report_customer_day r WHERE {scope.rows()}) x
                GROUP BY x.service)
SELECT v.id AS key, v.name AS name, n.bookings, n.completed, n.cancelled, COALESCE(p.customers, 0) AS customers
FROM counts n JOIN service v ON v.id = n.service LEFT JOIN people p ON p.service = n.service"""


def cancellations(dialect: Dialect, bucket: Bucket, scope: Scope) -> str:
    return f"""
SELECT {bucket_of(dialect, bucket)} AS period, SUM(r.bookings) AS bookings, SUM(r.cancelled) AS cancelled,
       SUM(r.no_show) AS no_show
FROM report_booking_day r WHERE {scope.rows()}
GROUP BY 1"""


def _firsts(scope: Scope, *, since: date | None = None) -> str:
    """Each customer's first visit in the branches, ever; `since`: only those whose first visit is on or after
    it. Ever, not up to the period's end: the customers it meets visit in the period, so theirs is earlier."""
    having = f" HAVING MIN(f.first_day) >= '{since.isoformat()}'" if since else ""
    return f"""firsts AS (SELECT f.customer, MIN(f.first_day) AS first FROM report_customer_first f
                WHERE {scope.reach("f")} GROUP BY f.customer{having})"""


def _visits(key: str, scope: Scope) -> str:
    return f"""visits AS (SELECT DISTINCT {key} AS k, r.customer FROM report_customer_day r
                WHERE {scope.rows()} AND r.visits > 0)"""


def new_vs_returning(dialect: Dialect, bucket: Bucket, scope: Scope) -> str:
    """New in the bucket holding the customer's first visit (ever, in the branches); returning in later ones."""
    return f"""
WITH {_firsts(scope)},
     {_visits(bucket_of(dialect, bucket), scope)}
SELECT v.k AS period, COUNT(*) AS customers, SUM(CASE WHEN {bucket_of(dialect, bucket, "f.first")} = v.k THEN 1 ELSE 0 END) AS new
FROM visits v JOIN firsts f ON f.customer = v.customer
GROUP BY v.k"""


def retention(dialect: Dialect, scope: Scope, since: date) -> str:
    """Cohorts: customers whose first visit (ever, in the branches) is on or after `since` (the report's first
    day), by its month; then how many of them visit in each month of `scope`. Months as their first days:
    whole numbers are the caller's."""
    return f"""
WITH {_firsts(scope, since=since)},
     {_visits(bucket_of(dialect, "month"), scope)}
SELECT {bucket_of(dialect, "month", "f.first")} AS cohort, v.k AS month, COUNT(*) AS customers
FROM visits v JOIN firsts f ON f.customer = v.customer
GROUP BY 1, 2"""


# Whole calendar months read the customer years (one row per customer, branch and year, its visited months as
# bits) instead of a row per customer and day. Months are whole numbers (logic.month_number); a row answers the
# twelve months of its year, bit 0 being January.


def _seen(dialect: Dialect, scope: Scope, months: tuple[int, int]) -> str:
    """Per customer and year, the months they visited any of the branches: the OR of their branches' bits
    (a customer of two branches is one customer), or the rows themselves for one branch."""
    rows = f"""FROM report_customer_year y
             WHERE {scope.reach("y")} AND y.year >= {months[0] // 12} AND y.year <= {months[1] // 12}"""
    if len(scope.branches) == 1:
        return f"seen AS (SELECT y.customer, y.year, y.visited {rows})"
    either = "bit_or(y.visited)" if dialect == "postgresql" else " | ".join(f"MAX(y.visited & {1 << k})" for k in range(12))
    return f"seen AS (SELECT y.customer, y.year, {either} AS visited {rows} GROUP BY y.customer, y.year)"


def _bit_counts(prefix: str) -> str:
    return ", ".join(f"SUM((s.visited >> {k}) & 1) AS {prefix}{k}" for k in range(12))


def _first_months(dialect: Dialect) -> str:
    """The month number of each customer's first visit (of `firsts`), computed once per customer."""
    return f"first_months AS (SELECT f.customer, ({year_of(dialect, 'f.first')} * 12 + {month_of(dialect, 'f.first')} - 1) AS month FROM firsts f)"


def visitors_by_month(dialect: Dialect, scope: Scope, months: tuple[int, int]) -> str:
    """Per year: the customers who visited in each of its months (m0…m11)."""
    return f"""
WITH {_seen(dialect, scope, months)}
SELECT s.year AS year, {_bit_counts("m")} FROM seen s GROUP BY s.year"""


def newcomers_by_month(dialect: Dialect, scope: Scope, months: tuple[int, int]) -> str:
    """Per month: the customers whose first visit (ever, in the branches) is in it; that visit is in it too."""
    return f"""
WITH {_firsts(scope)}, {_first_months(dialect)}
SELECT m.month AS month, COUNT(*) AS customers FROM first_months m
WHERE m.month >= {months[0]} AND m.month <= {months[1]} GROUP BY m.month"""


def retention_months(dialect: Dialect, scope: Scope, months: tuple[int, int], since: date) -> str:
    """Per cohort (the month number of a first visit on or after `since`) and year: how many of the cohort
    visited in each month of the year (m0…m11)."""
    return f"""
WITH {_firsts(scope, since=since)}, {_first_months(dialect)},
     {_seen(dialect, scope, months)}
SELECT f.month AS cohort, s.year AS year, {_bit_counts("m")}
FROM seen s JOIN first_months f ON f.customer = s.customer
GROUP BY f.month, s.year"""
