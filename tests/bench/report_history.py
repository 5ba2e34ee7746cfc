"""Generated history for the reports: a catalog made through the actions in two branches of different zones
(Asia/Shanghai, America/New_York), then customers, bookings, allocations and survey answers planned at
random and written in bulk. Test scaffolding shared by the correctness tests and the benchmark.

What the plan holds on purpose: starts spread uniformly over the clock (so many fall near local midnight),
a daylight-saving change in New York, every status and payment status, a second currency, bookings with a
room as well as staff, group classes whose bookings share one holder, rescheduled and reassigned bookings
with released allocations, survey ratings.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec

from appliance.auth.actor import cli_actor
from appliance.catalog import actions as catalog_actions
from appliance.catalog import schemas as catalog_schemas
from appliance.catalog.schemas import Money, Schedule
from appliance.core import db as core_db
from appliance.reports.rollup import rebuild
from appliance.testing.builders import make_resource, make_service, requirement
from tests.bench.booking_engine import (
    ALLOCATION_COLUMNS, BOOKING_COLUMNS, SEALED_CUSTOMER_COLUMNS, Row, insert_rows, sealed_customers,
)

ZONES = ("Asia/Shanghai", "America/New_York")
STATUSES = ("pending_approval", "confirmed", "checked_in", "completed", "cancelled", "no_show", "rejected")
STATUS_WEIGHTS = (5, 15, 5, 50, 12, 8, 5)
PAYMENTS = ("unpaid", "awaiting_payment", "paid", "refunded")
PAYMENT_WEIGHTS = (40, 10, 40, 10)
SOURCES = ("", "web", "wechat", "walk_in", "referral")
HOLDING = frozenset({"pending_approval", "confirmed", "checked_in", "completed"})
SURVEY_COLUMNS = ("id", "booking", "rating", "comment", "created_at")


@dataclass(frozen=True)
class CatalogResource:
    id: UUID
    branch: UUID
    kind: str
    capacity: int


@dataclass(frozen=True)
class CatalogService:
    id: UUID
    branch: UUID
    minutes: int
    price: int
    currency: str
    room: bool  # needs a room too
    seats: int


@dataclass
class ReportCatalog:
    branches: dict[UUID, str] = field(default_factory=dict)  # id -> zone
    resources: list[CatalogResource] = field(default_factory=list)
    services: list[CatalogService] = field(default_factory=list)


def _schedule(index: int) -> Schedule:
    """Varied hours: weekdays or every day, a split shift, an exception (a closed day and a short one), a block."""
    days: tuple[catalog_schemas.Weekday, ...] = catalog_schemas.WEEKDAYS if index % 2 else catalog_schemas.WEEKDAYS[:6]
    intervals = [("09:00", "12:00"), ("13:00", "21:00")] if index % 3 else [("00:00", "04:00"), ("08:00", "18:00")]
    return msgspec.convert({
        "weekly": {day: intervals for day in days},
        "exceptions": [{"date": "2026-03-08", "intervals": []}, {"date": "2026-03-10", "intervals": [["10:00", "11:30"]]}],
        "blocks": [{"weekday": "wed", "start": "14:00", "end": "16:00"}] if index % 2 == 0 else [],
    }, Schedule)


async def seed_catalog(staff_per_branch: int = 3, rooms_per_branch: int = 1, services_per_branch: int = 3) -> ReportCatalog:
    """Two branches with staff, rooms (capacity 2) and services, through the actions; some time off."""
    catalog = ReportCatalog()
    actor = cli_actor()
    for number, zone in enumerate(ZONES):
        opening = {day: [("08:00", "20:00")] for day in catalog_schemas.WEEKDAYS} if number == 1 else {}
        branch = await catalog_actions.create_branch(
            catalog_schemas.BranchCreate(name=f"门店{number + 1}", timezone=zone, opening_hours=opening), actor=actor
        )
        catalog.branches[branch.id] = zone
        for index in range(staff_per_branch):
            staff = await make_resource(branch.id, "staff", f"员工{number}-{index}", ("massage",), schedule=_schedule(index))
            catalog.resources.append(CatalogResource(staff.id, branch.id, "staff", 1))
            if index == 0:
                await catalog_actions.add_time_off(staff.id, catalog_schemas.TimeOffCreate(
                    starts_at=datetime(2026, 3, 3, 1, 30, tzinfo=UTC), ends_at=datetime(2026, 3, 5, 7, 0, tzinfo=UTC),
                ), actor=actor)
        for index in range(rooms_per_branch):
            room = await make_resource(branch.id, "room", f"房间{number}-{index}", ("vip",), capacity=2, schedule=_schedule(index + 1))
            catalog.resources.append(CatalogResource(room.id, branch.id, "room", 2))
        for index in range(services_per_branch):
            minutes = (30, 60, 90)[index % 3]
            currency = "USD" if number == 1 and index == 0 else "CNY"
            price = 1000 * (index + 1) + 98 * number
            needs = [requirement("staff", "massage")] + ([requirement("room", "vip")] if index == 1 else [])
            service = await make_service(
                branch.id, f"=服务{number}-{index}" if index == 2 else f"服务{number}-{index}", minutes, needs,
                price=Money(amount=price, currency=currency), seats=3 if index == 1 else 1,
            )
            catalog.services.append(CatalogService(service.id, branch.id, minutes, price, currency, index == 1, 3 if index == 1 else 1))
    return catalog


@dataclass
class History:
    customers: list[Row] = field(default_factory=list)
    bookings: list[Row] = field(default_factory=list)
    allocations: list[Row] = field(default_factory=list)
    answers: list[Row] = field(default_factory=list)


def _lanes(catalog: ReportCatalog) -> list[tuple[CatalogResource, tuple[CatalogResource, int] | None]]:
    """Disjoint (staff, room unit or None) teams: each books one thing at a time, so no two active
    allocations of a unit overlap (the database refuses that) however dense the history."""
    lanes: list[tuple[CatalogResource, tuple[CatalogResource, int] | None]] = []
    for branch in catalog.branches:
        staff = [r for r in catalog.resources if r.branch == branch and r.kind == "staff"]
        units = [(r, u) for r in catalog.resources if r.branch == branch and r.kind == "room" for u in range(r.capacity)]
        for index, member in enumerate(staff):
            lanes.append((member, units[index] if index < len(units) and index % 2 else None))
    return lanes


def plan_history(catalog: ReportCatalog, bookings: int, customers: int, *, start: datetime, end: datetime, seed: int) -> History:
    """About `bookings` bookings (exactly, unless the lanes run out of time) starting in [start, end) at
    random minutes, by `customers` customers."""
    rng = random.Random(seed)
    history = History()

    def new_id() -> UUID:
        return UUID(int=rng.getrandbits(128), version=4)

    customer_ids = []
    for number in range(customers):
        customer_id = new_id()
        customer_ids.append(customer_id)
        created = start - timedelta(days=rng.randrange(400))
        history.customers.append((
            customer_id, f"客户{number}", f"+86139{number:08d}", None, rng.choice(SOURCES), created, created,
        ))
    if bookings < 1:
        return history
    lanes = _lanes(catalog)
    span = (end - start).total_seconds() / 60
    services_for = {
        (branch, room): [s for s in catalog.services if s.branch == branch and s.room == room]
        for branch in catalog.branches for room in (False, True)
    }
    def options_of(staff: CatalogResource, room: object) -> list[CatalogService]:
        return services_for[(staff.branch, room is not None)] or services_for[(staff.branch, False)]

    # Gaps so that the lanes together hold about 5% more bookings than asked; the extra are dropped at random.
    parties = sum(statistics.mean((1 + s.seats) / 2 for s in options_of(staff, room)) for staff, room in lanes)
    per_lane = bookings * 1.05 / parties  # occurrences a lane holds
    minutes = statistics.mean(s.minutes for s in catalog.services)
    gap = max(1.0, span / per_lane - minutes - 1)
    planned: list[list[Row]] = []  # per occurrence: its bookings, allocations and answers as tagged rows
    for staff, room in lanes:
        at = start + timedelta(minutes=rng.randrange(int(gap) + 1))
        options = options_of(staff, room)
        while at < end:
            service = rng.choice(options)
            holder = f"{service.id}@{at.isoformat()}" if service.seats > 1 else None
            party = rng.randint(1, service.seats)
            occurrence: list[Row] = []
            for _ in range(party):
                occurrence += _booking(rng, new_id, service, staff, room if service.room else None, holder, at, customer_ids, catalog)
            planned.append(occurrence)
            at += timedelta(minutes=service.minutes + 1 + int(rng.expovariate(1 / gap)))
    rows = [row for occurrence in planned for row in occurrence]
    booking_rows = [r[1] for r in rows if r[0] == "b"]
    ids = [r[0] for r in booking_rows]
    keep = set(rng.sample(ids, min(bookings, len(ids))))
    for kind, row in rows:
        owner = row[0] if kind == "b" else row[1]
        if owner in keep:
            {"b": history.bookings, "a": history.allocations, "s": history.answers}[kind].append(row)
    return history


def _booking(
    rng: random.Random, new_id: Any, service: CatalogService, staff: CatalogResource,
    room: tuple[CatalogResource, int] | None, holder: str | None, starts_at: datetime, customer_ids: list[UUID],
    catalog: ReportCatalog,
) -> list[Row]:
    """One booking's tagged rows: ("b", booking), ("a", allocation)…, ("s", survey answer)."""
    booking_id = new_id()
    status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
    payment = rng.choices(PAYMENTS, PAYMENT_WEIGHTS)[0]
    ends_at = starts_at + timedelta(minutes=service.minutes)
    created = starts_at - timedelta(hours=rng.randrange(1, 24 * 30))
    rows: list[Row] = [("b", (
        booking_id, service.branch, service.id, rng.choice(customer_ids), starts_at, ends_at, status,
        "web", 1, service.price, service.currency, payment, "", "",
        hashlib.sha256(booking_id.bytes).hexdigest(), created, created,
    ))]
    active = status in HOLDING
    booking_holder = holder or str(booking_id)
    rows.append(("a", (new_id(), booking_id, staff.id, 0, booking_holder, starts_at, ends_at, active)))
    if room is not None:
        rows.append(("a", (new_id(), booking_id, room[0].id, room[1], booking_holder, starts_at, ends_at, active)))
    if holder is None and rng.random() < 0.1:
        # Rescheduled or reassigned earlier: a released allocation of another staff member.
        other = rng.choice([r for r in catalog.resources if r.branch == service.branch and r.kind == "staff"])
        earlier = starts_at - timedelta(days=rng.randint(0, 3))
        rows.append(("a", (new_id(), booking_id, other.id, 0, str(booking_id), earlier, earlier + timedelta(minutes=service.minutes), False)))
    if status == "completed" and rng.random() < 0.4:
        rows.append(("s", (new_id(), booking_id, rng.randint(1, 5), "", ends_at + timedelta(hours=2))))
    return rows


async def _copy_rows(table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """PostgreSQL's COPY through a pooled connection: a million rows in seconds, where multi-row
    INSERTs take minutes. Constraints and triggers still apply."""
    engine = core_db.current_engine()
    assert isinstance(engine, core_db.LoopLocalPostgresEngine) and engine.pool is not None
    async with engine.pool.acquire() as connection:
        await connection.copy_records_to_table(table, records=rows, columns=list(columns))


async def write_history(history: History) -> None:
    """In bulk: COPY when a PostgreSQL pool is open (the benchmark), else multi-row INSERTs; then the report
    rollups rebuilt, as after any bulk write."""
    engine = core_db.current_engine()
    pooled = isinstance(engine, core_db.LoopLocalPostgresEngine) and engine.pool is not None
    write = _copy_rows if pooled else insert_rows
    for table, columns, rows in (
        ("customer", SEALED_CUSTOMER_COLUMNS, sealed_customers(history.customers)),
        ("booking", BOOKING_COLUMNS, history.bookings),
        ("allocation", ALLOCATION_COLUMNS, history.allocations), ("survey_answer", SURVEY_COLUMNS, history.answers),
    ):
        if rows:
            await write(table, columns, rows)
    await rebuild()
