"""Each report computed the plain way, in Python, from the generated rows: what the SQL must agree with."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from tests.bench.report_history import HOLDING, History

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class B:
    id: UUID
    branch: UUID
    service: UUID
    customer: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    price: int
    currency: str
    payment: str


class Reference:
    def __init__(self, history: History, zones: dict[UUID, str], first: date, last: date, bucket: str) -> None:
        self.first, self.last, self.bucket = first, last, bucket
        self.tz = {branch: ZoneInfo(zone) for branch, zone in zones.items()}
        self.all = [B(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[9], r[10], r[11]) for r in history.bookings]
        self.allocations: dict[UUID, list[tuple[Any, ...]]] = defaultdict(list)
        for a in history.allocations:
            self.allocations[a[1]].append(a)
        self.ratings = {a[1]: a[2] for a in history.answers}
        self.sources = {c[0]: c[4] for c in history.customers}
        self.period = [b for b in self.all if first <= self.day(b) <= last]

    def day(self, b: B) -> date:
        return b.starts_at.astimezone(self.tz[b.branch]).date()

    def label(self, b: B, bucket: str | None = None) -> str:
        d = self.day(b)
        bucket = bucket or self.bucket
        if bucket == "week":
            d -= timedelta(days=d.weekday())
        elif bucket == "month":
            d = d.replace(day=1)
        return d.isoformat()

    @staticmethod
    def earns(b: B) -> bool:
        return b.payment != "refunded" and (b.status == "completed" or b.payment == "paid")

    def held(self, b: B) -> set[UUID]:
        rows = self.allocations[b.id]
        return {a[2] for a in rows if a[7] or b.status not in HOLDING}

    # --- the reports, as {key: values} ---

    def volume(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for b in self.period:
            out[self.label(b)][b.status] += 1
            out[self.label(b)]["bookings"] += b.status != "rejected"
        return {k: {s: n for s, n in v.items() if n} for k, v in out.items()}

    def revenue_by(self, key: Any) -> dict[tuple[Any, str], tuple[int, int]]:
        out: dict[tuple[Any, str], list[int]] = defaultdict(lambda: [0, 0])
        for b in self.period:
            if self.earns(b):
                for k in key(b):
                    out[(k, b.currency)][0] += 1
                    out[(k, b.currency)][1] += b.price
        return {k: (v[0], v[1]) for k, v in out.items()}

    def staff_of(self, b: B, staff: set[UUID]) -> list[UUID]:
        return [r for r in self.held(b) if r in staff] if b.status != "rejected" else []

    def customer_sources(self) -> dict[str, tuple[int, int]]:
        customers: dict[str, set[UUID]] = defaultdict(set)
        bookings: Counter[str] = Counter()
        for b in self.period:
            if b.status != "rejected":
                customers[self.sources[b.customer]].add(b.customer)
                bookings[self.sources[b.customer]] += 1
        return {s: (len(c), bookings[s]) for s, c in customers.items()}

    def popularity(self) -> dict[UUID, tuple[int, int, int, int]]:
        out: dict[UUID, list[Any]] = defaultdict(lambda: [0, 0, 0, set()])
        for b in self.period:
            if b.status != "rejected":
                row = out[b.service]
                row[0] += 1
                row[1] += b.status == "completed"
                row[2] += b.status == "cancelled"
                row[3].add(b.customer)
        return {k: (v[0], v[1], v[2], len(v[3])) for k, v in out.items()}

    def staff_performance(self, staff: set[UUID]) -> dict[tuple[UUID, str], tuple[int, int, int, int, int, float | None]]:
        out: dict[tuple[UUID, str], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, []])
        for b in self.period:
            for member in self.staff_of(b, staff):
                row = out[(member, b.currency)]
                row[0] += 1
                row[1] += b.status == "completed"
                row[2] += b.status == "no_show"
                row[3] += b.price if self.earns(b) else 0
                if b.id in self.ratings:
                    row[4].append(self.ratings[b.id])
        return {
            k: (v[0], v[1], v[2], v[3], len(v[4]), round(sum(v[4]) / len(v[4]), 2) if v[4] else None)
            for k, v in out.items()
        }

    def booked_seconds(self) -> dict[UUID, float]:
        held = set()
        for b in self.period:
            if b.status in HOLDING:
                for a in self.allocations[b.id]:
                    if a[7]:
                        held.add((a[2], a[3], a[4], b.starts_at, b.ends_at))
        out: Counter[UUID] = Counter()
        for resource, _unit, _holder, starts, ends in held:
            out[resource] += (ends - starts).total_seconds()
        return dict(out)

    def cancellations(self) -> dict[str, tuple[int, int, int]]:
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for b in self.period:
            if b.status != "rejected":
                row = out[self.label(b)]
                row[0] += 1
                row[1] += b.status == "cancelled"
                row[2] += b.status == "no_show"
        return {k: (v[0], v[1], v[2]) for k, v in out.items()}

    def _visits(self) -> list[B]:
        return [b for b in self.all if self.day(b) <= self.last and b.status not in ("cancelled", "rejected")]

    def new_vs_returning(self) -> dict[str, tuple[int, int]]:
        first: dict[UUID, str] = {}
        for b in self._visits():
            first[b.customer] = min(first.get(b.customer, "9999"), self.label(b))
        seen: dict[str, set[UUID]] = defaultdict(set)
        for b in self._visits():
            if self.day(b) >= self.first:
                seen[self.label(b)].add(b.customer)
        return {k: (len(v), sum(1 for c in v if first[c] == k)) for k, v in seen.items()}

    def retention(self) -> dict[tuple[str, int], int]:
        months: dict[UUID, list[tuple[int, bool]]] = defaultdict(list)
        for b in self._visits():
            d = self.day(b)
            months[b.customer].append((d.year * 12 + d.month - 1, d >= self.first))
        out: dict[tuple[str, int], set[UUID]] = defaultdict(set)
        for customer, visits in months.items():
            if not all(in_period for _, in_period in visits):
                continue
            cohort = min(m for m, _ in visits)
            for m, _ in visits:
                out[(f"{cohort // 12:04d}-{cohort % 12 + 1:02d}", m - cohort)].add(customer)
        return {k: len(v) for k, v in out.items()}


def _wall(text: str) -> time:
    return time.max if text == "24:00" else time.fromisoformat(text)


def _within(intervals: Any, wall: time) -> bool:
    return any(_wall(a) <= wall < _wall(b) for a, b in intervals)


def scheduled_seconds(
    schedule: dict[str, Any], opening: dict[str, Any], time_off: list[tuple[datetime, datetime]], capacity: int,
    tz: ZoneInfo, first: date, last: date,
) -> float:
    """Sampled every 30 minutes of UTC (every boundary in the data is on one): is the resource working then?"""
    at = datetime.combine(first, time(), tz).astimezone(ZoneInfo("UTC"))
    end = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(ZoneInfo("UTC"))
    exceptions = {e["date"]: e["intervals"] for e in schedule.get("exceptions", [])}
    step, count = timedelta(minutes=30), 0
    while at < end:
        local = at.astimezone(tz)
        weekday, wall = WEEKDAYS[local.weekday()], local.time()
        day = local.date().isoformat()
        intervals = exceptions[day] if day in exceptions else schedule.get("weekly", {}).get(weekday, [])
        working = _within(intervals, wall)
        working = working and not any(
            blk["weekday"] == weekday and _wall(blk["start"]) <= wall < _wall(blk["end"]) for blk in schedule.get("blocks", [])
        )
        if opening:
            working = working and _within(opening.get(weekday, []), wall)
        working = working and not any(a <= at < b for a, b in time_off)
        count += working
        at += step
    return count * 1800.0 * capacity
