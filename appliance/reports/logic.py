"""Report parameters checked and bucket arithmetic: pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.core.errors import Invalid, NotFound
from appliance.reports.catalogue import BUCKETS, REPORTS, Bucket, Report

Format = Literal["json", "csv", "xlsx"]
FORMATS: Final[tuple[Format, ...]] = ("json", "csv", "xlsx")
MAX_DAYS: Final = 3 * 366  # a day-bucketed trend of three years is about a thousand rows a branch

# What the reports count (docs/reports.md):
REJECTED: Final = "rejected"  # never happened: left out of "bookings" everywhere
HOLDING: Final = ("pending_approval", "confirmed", "checked_in", "completed")  # booked time, for utilisation
NOT_VISITS: Final = ("cancelled", "rejected")  # a customer "has a booking" unless it was one of these


@dataclass(frozen=True)
class ReportQuery:
    report: Report
    first_day: date  # local dates, inclusive at both ends, in each booking's own branch's zone
    last_day: date
    bucket: Bucket
    branch_id: UUID | None
    format: Format


def _day(field: str, value: str | None) -> date:
    if not value:
        raise Invalid({field: "required: a date YYYY-MM-DD"})
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid({field: "not a date YYYY-MM-DD"}) from None


def parse_query(
    name: str, *, from_: str | None, to: str | None, bucket: str | None, branch_id: str | None, format_: str | None
) -> ReportQuery:
    """The query string of GET /api/v1/reports/{name}, checked: 404 for an unknown report, else 422 naming
    the first field that is wrong."""
    report = REPORTS.get(name)
    if report is None:
        raise NotFound("no such report")
    first, last = _day("from", from_), _day("to", to)
    if last < first:
        raise Invalid({"to": "must not be before from"})
    if (last - first).days >= MAX_DAYS:
        raise Invalid({"to": f"at most {MAX_DAYS} days after from"})
    chosen = bucket or "month"
    if chosen not in BUCKETS:
        raise Invalid({"bucket": "one of day, week, month"})
    if report.name == "retention_cohorts" and chosen != "month":
        raise Invalid({"bucket": "retention cohorts are monthly"})
    branch: UUID | None = None
    if branch_id:
        try:
            branch = UUID(branch_id)
        except ValueError:
            raise Invalid({"branch_id": "not a UUID"}) from None
    chosen_format = format_ or "json"
    if chosen_format not in FORMATS:
        raise Invalid({"format": "one of json, csv, xlsx"})
    return ReportQuery(report, first, last, chosen, branch, chosen_format)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local date begins, in UTC. Where a zone skips midnight, zoneinfo reads the missing
    00:00 with the offset before the jump: the very instant the day's first wall time begins."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def period_bounds(first_day: date, last_day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local dates first_day..last_day."""
    return local_midnight(first_day, tz), local_midnight(last_day + timedelta(days=1), tz)


def bucket_of(day: date, bucket: Bucket) -> date:
    """The first day of the bucket holding `day`: itself, its ISO week's Monday, or its month's first."""
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def buckets_between(first_day: date, last_day: date, bucket: Bucket) -> list[date]:
    """Every bucket the local dates first_day..last_day touch, in order: trends show empty periods too."""
    found, at = [], bucket_of(first_day, bucket)
    while at <= last_day:
        found.append(at)
        if bucket == "day":
            at += timedelta(days=1)
        elif bucket == "week":
            at += timedelta(days=7)
        else:
            at = (at + timedelta(days=32)).replace(day=1)
    return found


@dataclass(frozen=True)
class MonthSplit:
    """A period as the whole calendar months it covers (first..last month numbers; None when it covers none)
    and the partial months at its ends, as ranges of dates."""

    whole: tuple[int, int] | None
    partial: tuple[tuple[date, date], ...]


def split_months(first_day: date, last_day: date) -> MonthSplit:
    start = first_day if first_day.day == 1 else (first_day.replace(day=1) + timedelta(days=32)).replace(day=1)
    after = last_day + timedelta(days=1)
    end = after if after.day == 1 else after.replace(day=1)  # the first day after the last whole month
    if start >= end:
        return MonthSplit(None, ((first_day, last_day),))
    partial = []
    if first_day < start:
        partial.append((first_day, start - timedelta(days=1)))
    if end <= last_day:
        partial.append((end, last_day))
    return MonthSplit((month_number(start), month_number(end) - 1), tuple(partial))


def month_number(day: date) -> int:
    """Months since year 0: cohort arithmetic on ints."""
    return day.year * 12 + day.month - 1


def month_first(number: int) -> date:
    """The first day of a month given as a whole number."""
    return date(number // 12, number % 12 + 1, 1)


def month_label(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def rate(part: int | float, whole: int | float) -> float | None:
    """part ÷ whole rounded to 4 places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def hours(seconds: float) -> float:
    return round(seconds / 3600, 2)
