"""The reports' rollups: what every report sums, per branch and local day in the branch's zone. Derived
from bookings, allocations and survey answers by appliance.reports.rollup, for the days that changes mark
stale (appliance.reports.stale); never edited by hand. A report over a million bookings then reads
thousands of rows, not millions."""

from __future__ import annotations

from piccolo.columns import UUID, BigSerial, Date, DoublePrecision, Integer, Timestamptz, Varchar
from piccolo.table import Table


class ReportBookingDay(Table):
    """Bookings of one service starting on one local day, by status, and what they earned."""

    branch = UUID()
    zone = Varchar(length=64)  # the branch's time zone the day is local to: a zone change rebuilds its rows
    day = Date()
    service = UUID()
    currency = Varchar(length=3)
    bookings = Integer(default=0)  # all but rejected ones
    pending_approval = Integer(default=0)
    confirmed = Integer(default=0)
    checked_in = Integer(default=0)
    completed = Integer(default=0)
    cancelled = Integer(default=0)
    no_show = Integer(default=0)
    rejected = Integer(default=0)
    earning = Integer(default=0)  # bookings that count as revenue
    revenue = Integer(default=0)  # their price, minor units


class ReportResourceDay(Table):
    """Per resource and local day: the bookings it served (credited once each, as staff performance counts
    them) and the service time it was booked for (group classes once per occurrence)."""

    branch = UUID()
    day = Date()
    resource = UUID()
    currency = Varchar(length=3)
    bookings = Integer(default=0)
    completed = Integer(default=0)
    no_show = Integer(default=0)
    earning = Integer(default=0)
    revenue = Integer(default=0)
    ratings = Integer(default=0)
    rating_sum = Integer(default=0)
    booked_seconds = DoublePrecision(default=0.0)


class ReportCustomerDay(Table):
    """A customer's bookings of one service on one local day: distinct customers, first visits, cohorts."""

    branch = UUID()
    day = Date()
    customer = UUID()
    service = UUID()
    bookings = Integer(default=0)  # all but rejected ones
    visits = Integer(default=0)  # neither cancelled nor rejected


class ReportCustomerFirst(Table):
    """A customer's first visit to a branch (local day): who is new, and each cohort, without a million rows."""

    branch = UUID()
    customer = UUID()
    first_day = Date()


class ReportCustomerYear(Table):
    """The months of one year a customer visited a branch, as bits (bit 0: January), from the customer days:
    the customers of whole months in one row per customer and year, not one per visit, for new vs returning
    and the cohorts."""

    branch = UUID()
    customer = UUID()
    year = Integer()
    visited = Integer()


class ReportStale(Table):
    """A change the rollups have not taken in yet: a booking start it touched (the branch-day to derive again)
    and the customer whose days and first visit to derive. Written in the change's transaction; deleted, by
    id, by the refresh that took it in."""

    id = BigSerial(primary_key=True)  # in the order written: the sweeper takes the oldest first
    branch = UUID()
    starts_at = Timestamptz()
    customer = UUID()
