"""Booking-engine benchmark against a real `appliance serve`: availability latency, booking throughput under
concurrent clients and a double-booking check, with a year of history and without, each figure next to a
baseline measured in the same run. Not a timed test: targets print PASS or MISS and never fail the run.

    .venv/bin/python -m tests.bench.booking_engine [--engine sqlite|postgresql|both] [--bookings N] [--quick]

Per engine: a fresh database (a temporary SQLite file, or a PostgreSQL database `appliance_bench_<random>`
dropped afterwards) migrated with `appliance migrate`; one branch (Asia/Shanghai) with 50 resources and four
services made through the actions; `appliance serve` started as a subprocess on a free loopback port (on
PostgreSQL in production mode: a redis-server of its own and one `appliance worker` process; SQLite runs
embedded, the worker threads inside the server). The empty phase measures with no bookings at all. A
year of bookings is then planned (test scaffolding, not product code): the "no history" phase measures
with only its bookings from today on, the history phase with all of it, 240 days of past included; then
the "no history" phase once more, so that the history phase sits between two measurements of its
baseline and a slow spell of a shared machine, or a drift, weighs on both sides alike. Each phase starts
from the planned rows alone, written in bulk. The history targets compare the history phase with the
mean of the two no-history phases, which show the same calendar ahead and differ only by the past;
against the empty phase they are printed for attribution. The exit status is non-zero only when the run
breaks or a structural check fails (a double booking, an unexpected HTTP error, nothing measured).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import hashlib
import json
import itertools
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from piccolo.querystring import QueryString

from appliance.auth.actions import create_api_token
from appliance.auth.actor import cli_actor
from appliance.auth.queries import actor_of_user
from appliance.auth.roles import Permission, Role
from appliance.auth.schemas import TokenCreate
from appliance.bookings.logic import Held, ResourceCalendar, check_start, find_slots, holds_for
from appliance.bookings.queries import load_calendars, load_service
from appliance.bookings.states import HOLDING
from appliance.catalog.schemas import WEEKDAYS, ResourceKind, Schedule
from appliance.core import db as core_db
from appliance.core.log import configure_logging
from appliance.db import open_database
from appliance.settings import load_settings
from appliance.testing.builders import make_branch, make_resource, make_service, make_user
from tests.bench.processes import (
    Child, appliance_worker, cpu_seconds, database_cpu_seconds, free_port, start_redis, tree_cpu_seconds,
    wait_for_workers,
)

POSTGRES_ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ENGINES = ("sqlite", "postgresql")

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
OPENS, CLOSES = 9 * 60, 22 * 60  # every resource's working day, minutes of local wall-clock time
STEP = 15
PAST_DAYS, FUTURE_DAYS = 240, 125  # the year of history: 240 days back, 125 ahead (today included)
AVAILABILITY_DAYS = (7, 37)  # the measured 30-day window, in days from today
THROUGHPUT_DAYS = (40, 100)  # where the concurrent clients book: room for 640 more even in a busy year
WARMUP_DAYS = (105, 107)
MAX_ADVANCE_DAYS = 180
CHANNELS = ("web", "wechat", "admin", "phone", "walk_in", "api")

# Targets from the issue; PASS/MISS only, never a failure.
AVAILABILITY_MEDIAN_MS = 50.0  # on PostgreSQL
AVAILABILITY_RATIO = 3.0  # HTTP median over the bare SQL fetch of the same rows
BOOKING_RATIO = 0.25  # bookings created per second over /healthz requests per second
HISTORY_SLOWDOWN = 1.2  # a year of history against none

PRODUCTION_WORKER_THREADS = 8  # `appliance worker`'s default

# Every figure line a run prints per engine, in order; the smoke test checks they are all there.
FIGURE_NAMES = (
    "seed_catalog_s", "seed_customers", "seed_bookings", "seed_allocations", "seed_s", "seed_rows_per_s",
    "staff_busy", "room_busy", "equipment_busy",
    "empty_availability_slots", "empty_availability_median_ms", "empty_availability_sql_ms",
    "empty_availability_ratio", "empty_healthz_per_s", "empty_booking_created", "empty_booking_conflicts",
    "empty_booking_errors", "empty_booking_created_per_s", "empty_booking_ratio",
    "ahead_availability_slots", "ahead_availability_median_ms", "ahead_booking_created", "ahead_booking_created_per_s",
    "again_availability_median_ms", "again_booking_created", "again_booking_created_per_s",
    "availability_slots", "availability_median_ms", "availability_p95_ms", "availability_sql_ms",
    "availability_sql_bounded_ms", "availability_load_calendars_ms", "availability_engine_ms", "availability_ratio",
    "healthz_per_s", "healthz_auth_per_s", "booking_requests", "booking_created", "booking_conflicts",
    "booking_errors", "booking_created_per_s", "booking_p95_ms", "booking_max_ms", "booking_ratio",
    "booking_ratio_auth", "booking_cpu_server_ms", "booking_cpu_worker_ms", "booking_cpu_database_ms",
    "history_availability_slowdown", "history_throughput_slowdown", "busy_calendar_availability_slowdown",
    "busy_calendar_throughput_slowdown",
    "allocations_checked", "double_bookings", "run_s",
)
CPU_NOTES = {
    "server": "CPU per booking created, while they ran: appliance serve",
    "worker": "likewise: the worker process (its events may finish later); nan when embedded",
    "database": "likewise: the benchmark database's PostgreSQL backends; nan on SQLite",
}
# Counts that must be above zero whatever the machine.
COUNT_FIGURES = (
    "seed_customers", "seed_bookings", "seed_allocations", "empty_availability_slots", "empty_healthz_per_s",
    "empty_booking_created", "ahead_availability_slots", "ahead_booking_created", "again_booking_created",
    "availability_slots", "healthz_per_s", "healthz_auth_per_s", "booking_requests",
    "booking_created", "allocations_checked",
)


@dataclass(frozen=True)
class BenchConfig:
    bookings: int = 100_000
    clients: int = 32
    availability_requests: int = 30
    booking_requests: int = 640  # per phase, spread over the clients
    healthz_requests: int = 3_200  # per phase
    warmup_bookings: int = 8
    seed: int = 20_261_126
    phase_timeout_s: float = 900.0
    request_timeout_s: float = 60.0
    server_start_timeout_s: float = 60.0
    http_workers: int = 1  # APPLIANCE_HTTP_WORKERS on PostgreSQL (production mode); SQLite serves from one

    @property
    def customers(self) -> int:
        return max(100, self.bookings // 5)


FULL = BenchConfig()
QUICK = BenchConfig(
    bookings=2_000, availability_requests=10, booking_requests=128, healthz_requests=640, warmup_bookings=4
)


# --- Figures -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    decimals: int = 1
    target: str = ""  # e.g. "<=50"
    ok: bool | None = None  # None: no verdict for this figure
    note: str = ""

    def line(self, engine: str) -> str:
        finite = math.isfinite(self.value)
        value = f"{self.value:.{self.decimals}f}" if self.decimals or not finite else str(round(self.value))
        parts = [f"{engine} {self.name}={value}"]
        if self.target:
            parts.append(f"target{self.target}")
        if self.ok is not None:
            parts.append("PASS" if self.ok else "MISS")
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)


def at_most(name: str, value: float, limit: float, decimals: int = 2) -> Figure:
    return Figure(name, value, decimals, target=f"<={limit:g}", ok=value <= limit)


def at_least(name: str, value: float, limit: float, decimals: int = 2) -> Figure:
    return Figure(name, value, decimals, target=f">={limit:g}", ok=value >= limit)


def count(name: str, value: int) -> Figure:
    return Figure(name, value, decimals=0)


@dataclass
class EngineResult:
    engine: str
    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # structural failures: these make the run fail
    machine: str = ""  # CPUs and load: other work on the machine moves every absolute figure

    def value(self, name: str) -> float:
        return next(f.value for f in self.figures if f.name == name)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    """Nearest rank: with 30 samples, the second slowest."""
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


# --- The shop --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourcePlan:
    kind: ResourceKind
    name: str
    skills: tuple[str, ...]
    capacity: int = 1
    day_off: int | None = None  # weekday, 0 = Monday


@dataclass(frozen=True)
class ServicePlan:
    name: str
    duration: int  # minutes
    buffer_after: int
    needs: tuple[tuple[str, str], ...]  # (kind, skill) per resource it holds
    price: int  # fen
    share: float  # of the history's bookings


def resource_plans() -> list[ResourcePlan]:
    """30 staff (24 do massage, 12 facials, 6 both; one day off a week each), 15 rooms (the last five with
    two beds and a sauna), 5 lasers: 50 resources, all working 09:00–22:00."""
    staff = [
        ResourcePlan(
            "staff", f"技师{i + 1:02d}", tuple(s for s, has in (("massage", i < 24), ("facial", i >= 18)) if has),
            day_off=i % 7,
        )
        for i in range(30)
    ]
    rooms = [
        ResourcePlan("room", f"房间{i + 1:02d}", ("spa", "sauna") if i >= 10 else ("spa",), capacity=2 if i >= 10 else 1)
        for i in range(15)
    ]
    equipment = [ResourcePlan("equipment", f"激光仪{i + 1}", ("laser",)) for i in range(5)]
    return staff + rooms + equipment


MEASURED = ServicePlan("精油按摩", 60, 15, (("staff", "massage"), ("room", "spa")), 19_800, 0.35)
MEASURED_KINDS = tuple(kind for kind, _ in MEASURED.needs)  # what its calendar query reads: staff, room
SERVICE_PLANS = (
    MEASURED,
    ServicePlan("足疗", 30, 10, (("staff", "massage"),), 9_800, 0.35),
    ServicePlan("激光嫩肤", 30, 10, (("staff", "facial"), ("equipment", "laser")), 39_800, 0.15),
    ServicePlan("汗蒸", 45, 15, (("room", "sauna"),), 6_800, 0.15),
)


@dataclass(frozen=True)
class Catalog:
    branch_id: UUID
    resources: list[tuple[UUID, ResourcePlan]]
    services: list[tuple[UUID, ServicePlan]]

    @property
    def measured_service_id(self) -> UUID:
        return self.services[0][0]


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


async def seed_catalog() -> Catalog:
    """The branch, its resources with their schedules and the services, through the actions."""
    branch = await make_branch("压测店", TZ_NAME)
    resources = []
    for plan in resource_plans():
        weekly = {day: [] if i == plan.day_off else [(_hhmm(OPENS), _hhmm(CLOSES))] for i, day in enumerate(WEEKDAYS)}
        resource = await make_resource(
            branch.id, kind=plan.kind, name=plan.name, skills=plan.skills, capacity=plan.capacity,
            schedule=Schedule(weekly=weekly),
        )
        resources.append((resource.id, plan))
    services = []
    for service_plan in SERVICE_PLANS:
        service = await make_service(
            branch.id, name=service_plan.name, duration_minutes=service_plan.duration,
            requirements=[{"kind": kind, "skills": [skill], "count": 1} for kind, skill in service_plan.needs],
            buffer_after_minutes=service_plan.buffer_after, slot_step_minutes=STEP, min_notice_minutes=60,
            max_advance_days=MAX_ADVANCE_DAYS, price={"amount": service_plan.price, "currency": "CNY"},
        )
        services.append((service.id, service_plan))
    return Catalog(branch.id, resources, services)


async def create_token() -> str:
    """An owner's API token with every scope the owner holds, as `appliance token create` makes it."""
    user = await make_user("bench.owner", Role.owner)
    holder = await actor_of_user(user.id)
    data = TokenCreate(name="bench", scopes=[p for p in Permission if holder.can(p)], expires_at=None)
    return (await create_api_token(data, actor=cli_actor(), owner_id=user.id)).token


# --- A year of history -----------------------------------------------------------------------------

# Customers as planned (plaintext); `sealed_customers` turns them into SEALED_CUSTOMER_COLUMNS rows.
CUSTOMER_COLUMNS = ("id", "name", "phone", "email", "source_channel", "created_at", "updated_at")
SEALED_CUSTOMER_COLUMNS = (
    "id", "name", "phone", "email", "name_bidx", "phone_bidx", "phone_last4_bidx", "email_bidx", "source_channel",
    "created_at", "updated_at",
)
BOOKING_COLUMNS = (
    "id", "branch", "service", "customer", "starts_at", "ends_at", "status", "channel", "seats", "price_amount",
    "price_currency", "payment_status", "answers", "notes", "manage_token_hash", "created_at", "updated_at",
)
ALLOCATION_COLUMNS = ("id", "booking", "resource", "unit", "holder", "starts_at", "ends_at", "active")


def sealed_customers(rows: Sequence[Row]) -> list[Row]:
    """Planned customer rows as the appliance stores them (field encryption): sealed, with blind indexes.
    Needs the database opened (it configures the key ring)."""
    from appliance.customers.sealing import customer_columns

    sealed: list[Row] = []
    for customer_id, name, phone, email, *rest in rows:
        c = customer_columns(customer_id, name=name, phone=phone, email=email)
        sealed.append((
            customer_id, c["name"], c["phone"], c["email"], c["name_bidx"], c["phone_bidx"], c["phone_last4_bidx"],
            c["email_bidx"], *rest,
        ))
    return sealed


def sealed_bookings(rows: Sequence[Row]) -> list[Row]:
    """Planned booking rows (BOOKING_COLUMNS, answers as a JSON text or "{}") with answers and notes sealed."""
    from appliance.bookings.sealing import sealed_answers, sealed_notes

    at = BOOKING_COLUMNS.index("answers"), BOOKING_COLUMNS.index("notes")
    sealed: list[Row] = []
    for row in rows:
        values = list(row)
        answers = json.loads(values[at[0]]) if isinstance(values[at[0]], str) else values[at[0]]
        values[at[0]] = sealed_answers(row[0], answers)
        values[at[1]] = sealed_notes(row[0], values[at[1]])
        sealed.append(tuple(values))
    return sealed
Row = tuple[Any, ...]


@dataclass
class History:
    customers: list[Row]
    bookings: list[Row]
    allocations: list[Row]
    busy_minutes: Counter[str]  # active held minutes per resource kind
    open_minutes: Counter[str]  # working minutes per resource kind (every unit) over the year

    def busy(self, kind: str) -> float:
        return self.busy_minutes[kind] / self.open_minutes[kind] if self.open_minutes[kind] else 0.0

    def ahead(self, now: datetime) -> tuple[list[Row], list[Row]]:
        """The bookings that start from `now` on and their allocations: the same calendar ahead, no past."""
        bookings = [row for row in self.bookings if row[4] >= now]
        ids = {row[0] for row in bookings}
        return bookings, [row for row in self.allocations if row[1] in ids]


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Integers proportional to `weights` that add up to `total` (largest remainder)."""
    shares = [total * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _free(spans: list[tuple[int, int]], low: int, high: int) -> bool:
    """Whether [low, high) misses every span of a sorted, disjoint list."""
    at = bisect.bisect_left(spans, (low, -1))
    return (at == len(spans) or spans[at][0] >= high) and (at == 0 or spans[at - 1][1] <= low)


def _pick_units(
    candidates: Sequence[Sequence[int]], capacities: Sequence[int], taken: dict[tuple[int, int], list[tuple[int, int]]],
    start: int, end: int, *, active: bool, rng: random.Random,
) -> list[tuple[int, int]] | None:
    """Per need, a distinct resource among its candidates (trying them from a random one on) with a unit
    free over [start, end); None when a need finds none. A booking that holds nothing (cancelled, no-show)
    may lie anywhere."""
    picks: list[tuple[int, int]] = []
    for pool in candidates:
        first = rng.randrange(len(pool)) if pool else 0
        found = next(
            (
                (resource, unit)
                for resource in (pool[(first + k) % len(pool)] for k in range(len(pool)))
                if all(resource != r for r, _ in picks)
                for unit in range(capacities[resource])
                if not active or _free(taken.get((resource, unit), []), start, end)
            ),
            None,
        )
        if found is None:
            return None
        picks.append(found)
    return picks


def plan_history(catalog: Catalog, bookings: int, customers: int, *, now: datetime, seed: int) -> History:
    """`bookings` bookings over the year around today, placed per resource unit so no two active ones
    overlap (the database would refuse them): a random on-grid start within working hours, then a random
    free qualifying resource per need. Past ones are mostly completed, future ones confirmed; some of
    each are cancelled (or no-shows) and hold nothing. Weekends are busier."""
    rng = random.Random(seed)

    def new_id() -> UUID:
        return UUID(int=rng.getrandbits(128), version=4)

    today = now.astimezone(TZ).date()
    days = [today + timedelta(days=d) for d in range(-PAST_DAYS, FUTURE_DAYS)]
    quotas = _apportion(bookings, [1.3 if d.weekday() >= 5 else 1.0 for d in days])
    plans = [plan for _, plan in catalog.resources]
    capacities = [plan.capacity for plan in plans]
    # Per (kind, skill, weekday): the resources that qualify and work that day.
    eligible: dict[tuple[str, str, int], list[int]] = {}
    for weekday in range(7):
        for index, plan in enumerate(plans):
            if plan.day_off == weekday:
                continue
            for skill in plan.skills:
                eligible.setdefault((plan.kind, skill, weekday), []).append(index)
    open_minutes: Counter[str] = Counter()
    for day in days:
        for plan in plans:
            if plan.day_off != day.weekday():
                open_minutes[plan.kind] += plan.capacity * (CLOSES - OPENS)

    customer_rows: list[Row] = []
    for n in range(customers):
        joined = now - timedelta(days=PAST_DAYS + rng.randrange(365))
        email = f"c{n}@example.com" if n % 2 else None
        customer_rows.append((new_id(), f"客户{n:06d}", f"+86139{n:08d}", email, rng.choice(CHANNELS), joined, joined))
    service_ids = [service_id for service_id, _ in catalog.services]
    service_plans = [plan for _, plan in catalog.services]
    cumulative = list(itertools.accumulate(plan.share for plan in service_plans))

    booking_rows: list[Row] = []
    allocation_rows: list[Row] = []
    busy: Counter[str] = Counter()
    carry = 0
    for day, quota in zip(days, quotas, strict=True):
        quota += carry
        midnight = datetime(day.year, day.month, day.day, tzinfo=TZ)
        taken: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (resource, unit) -> held minutes of the day
        made = attempts = 0
        while made < quota and attempts < 40 * quota + 100:
            attempts += 1
            which = bisect.bisect_left(cumulative, rng.random() * cumulative[-1])
            service = service_plans[which]
            hold = service.duration + service.buffer_after
            start = OPENS + STEP * rng.randrange((CLOSES - OPENS - hold) // STEP + 1)
            starts_at = (midnight + timedelta(minutes=start)).astimezone(UTC)
            luck = rng.random()
            if starts_at < now:
                status = "cancelled" if luck < 0.06 else "no_show" if luck < 0.09 else "completed"
            else:
                status = "cancelled" if luck < 0.08 else "confirmed"
            active = status in HOLDING
            candidates = [eligible.get((kind, skill, day.weekday()), []) for kind, skill in service.needs]
            picks = _pick_units(candidates, capacities, taken, start, start + hold, active=active, rng=rng)
            if picks is not None:
                made += 1
                booking_id = new_id()
                customer = customer_rows[int(customers * rng.random() ** 2)][0]  # regulars book more often
                ends_at = starts_at + timedelta(minutes=service.duration)
                created_at = min(now, starts_at - timedelta(minutes=rng.randrange(60, 30 * 1440)))
                updated_at = min(now, ends_at) if status != "confirmed" else created_at
                paid = "paid" if status == "completed" else "unpaid"
                booking_rows.append((
                    booking_id, catalog.branch_id, service_ids[which], customer, starts_at, ends_at, status,
                    rng.choice(CHANNELS), 1, service.price, "CNY", paid, "", "",
                    hashlib.sha256(booking_id.bytes).hexdigest(), created_at, max(created_at, updated_at),
                ))
                for resource, unit in picks:
                    allocation_rows.append((
                        new_id(), booking_id, catalog.resources[resource][0], unit, str(booking_id), starts_at,
                        starts_at + timedelta(minutes=hold), active,
                    ))
                    if active:
                        bisect.insort(taken.setdefault((resource, unit), []), (start, start + hold))
                        busy[plans[resource].kind] += hold
        carry = quota - made
    return History(customer_rows, booking_rows, allocation_rows, busy, open_minutes)


def _batch_rows(columns: Sequence[str]) -> int:
    # SQLite allows 32766 bound parameters per statement, PostgreSQL 32767.
    return min(1_000, 30_000 // len(columns))


async def insert_rows(table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """Multi-row INSERTs through the open engine, in one write transaction per table."""
    engine = core_db.current_engine()
    names = ", ".join(f'"{c}"' for c in columns)
    one = "(" + ", ".join(["{}"] * len(columns)) + ")"
    size = _batch_rows(columns)
    async with core_db.write_transaction():
        for at in range(0, len(rows), size):
            chunk = rows[at:at + size]
            sql = f'INSERT INTO "{table}" ({names}) VALUES ' + ", ".join([one] * len(chunk))
            await engine.run_querystring(QueryString(sql, *itertools.chain.from_iterable(chunk)))


async def write_bookings(bookings: Sequence[Row], allocations: Sequence[Row]) -> None:
    await insert_rows("booking", BOOKING_COLUMNS, bookings)
    await insert_rows("allocation", ALLOCATION_COLUMNS, allocations)
    if core_db.current_dialect() == "postgresql":
        # What autovacuum does shortly after a bulk load; measuring while it runs would measure it too.
        await core_db.current_engine().run_ddl("VACUUM ANALYZE")


async def delete_bookings() -> None:
    """Every booking gone (with what refers to them), as if never written: PostgreSQL would otherwise keep
    the dead rows in the exclusion constraint's index until a vacuum, and every later overlap search would
    wade through them."""
    tables = ("allocation", "booking", "idempotency_record")
    engine = core_db.current_engine()
    if core_db.current_dialect() == "postgresql":
        await engine.run_ddl("TRUNCATE " + ", ".join(f'"{table}"' for table in tables) + " CASCADE")
        return
    async with core_db.write_transaction():
        for table in tables:
            await engine.run_ddl(f'DELETE FROM "{table}"')


# --- The server ------------------------------------------------------------------------------------


def server_env(data_dir: Path, database_url: str) -> dict[str, str]:
    """The caller's environment without any APPLIANCE_* of its own; production-like logging (JSON, info)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    return {**env, "APPLIANCE_DATA_DIR": str(data_dir), "APPLIANCE_DATABASE_URL": database_url}


def appliance_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "appliance", *args]


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run(
        appliance_command("migrate"), env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"appliance migrate failed: {result.stderr.strip() or result.stdout.strip()}")


class Server:
    """`appliance serve` as a subprocess; always stopped by `stop()`."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            appliance_command("serve", "--host", "127.0.0.1", "--port", str(self.port)),
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def error_lines(self, limit: int = 5) -> list[str]:
        """The first error records of the server's JSON log (tracebacks included)."""
        found = []
        try:
            with self.log_path.open(errors="replace") as log:
                for line in log:
                    if '"level":"error"' in line.replace(" ", "") or '"level":"critical"' in line.replace(" ", ""):
                        found.append(line.strip()[:4000])
                        if len(found) == limit:
                            break
        except OSError:
            pass
        return found

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"appliance serve exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"appliance serve did not answer /healthz within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            self._log.close()


# --- Measurements ----------------------------------------------------------------------------------


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ)


def window(days: tuple[int, int], now: datetime) -> tuple[datetime, datetime]:
    today = now.astimezone(TZ).date()
    return local_midnight(today + timedelta(days=days[0])), local_midnight(today + timedelta(days=days[1]))


# The rows availability needs, fetched raw in one round trip, with the same predicates the product's
# calendar query uses (appliance.bookings.queries.load_calendars): the branch, its active resources of the
# measured service's kinds with schedules, their active allocations and time off around the window.
BARE_CALENDAR_SQL = """
SELECT 'b' AS row_kind, b.id AS resource, b.opening_hours AS schedule, CAST(NULL AS TIMESTAMPTZ) AS starts_at,
       CAST(NULL AS TIMESTAMPTZ) AS ends_at, CAST(NULL AS INTEGER) AS unit, CAST(NULL AS VARCHAR) AS holder,
       CAST(NULL AS INTEGER) AS seats
  FROM branch b WHERE b.id = {}
UNION ALL
SELECT 'r', r.id, r.schedule, NULL, NULL, r.capacity, r.kind, r.post_use_lock_minutes
  FROM resource r WHERE r.branch = {} AND r.active AND r.kind IN ({}, {})
UNION ALL
SELECT 'a', a.resource, NULL, a.starts_at, a.ends_at, a.unit, a.holder,
       CASE WHEN a.holder LIKE '%@%' THEN (SELECT bk.seats FROM booking bk WHERE bk.id = a.booking) ELSE 1 END
  FROM allocation a JOIN resource r ON r.id = a.resource
 WHERE r.branch = {} AND r.active AND r.kind IN ({}, {})
   AND a.active AND a.starts_at < {} AND a.ends_at > {} AND a.starts_at > {}
UNION ALL
SELECT 't', t.resource, NULL, t.starts_at, t.ends_at, NULL, NULL, NULL
  FROM time_off t JOIN resource r ON r.id = t.resource
 WHERE r.branch = {} AND r.active AND r.kind IN ({}, {}) AND t.starts_at < {} AND t.ends_at > {}
"""
CALENDAR_MARGIN = timedelta(days=1)  # as load_calendars: held rows may start before the window
# For attribution only: the schema caps duration, buffers and post-use lock, so no allocation is longer
# than this; a lower bound on starts_at then lets the index stop at the window instead of reading the
# whole past.
LONGEST_ALLOCATION = timedelta(minutes=1440 + 720 + 720 + 1440)
# The product's query is bounded now (appliance.bookings.queries.LONGEST_ALLOCATION); both names stay
# so the report keeps its columns.
BOUNDED_CALENDAR_SQL = BARE_CALENDAR_SQL


async def bare_calendar_fetch(branch_id: UUID, starts: datetime, ends: datetime, *, bounded: bool = False) -> int:
    low, high = starts - CALENDAR_MARGIN, ends + CALENDAR_MARGIN
    kinds = MEASURED_KINDS
    args = (
        branch_id, branch_id, *kinds, branch_id, *kinds, high, low, low - LONGEST_ALLOCATION, branch_id, *kinds, high,
        low,
    )
    sql = QueryString(BOUNDED_CALENDAR_SQL if bounded else BARE_CALENDAR_SQL, *args)
    rows = await core_db.current_engine().run_querystring(sql)
    return len(rows)


@dataclass(frozen=True)
class Availability:
    slots: int
    http_ms: list[float]
    sql_ms: list[float]
    bounded_sql_ms: list[float]
    load_calendars_ms: list[float]
    engine_ms: list[float]


async def measure_availability(
    http: httpx.AsyncClient, catalog: Catalog, starts: datetime, ends: datetime, requests: int
) -> Availability:
    """`requests` rounds of: one GET /api/v1/availability, then the bare SQL fetch, the bounded one, the
    calendar load and the engine run in this process. Interleaved, so that a noisy neighbour slowing
    the machine for a few seconds slows the request and its baseline alike, and the ratio holds."""
    params = {"service_id": str(catalog.measured_service_id), "from": starts.isoformat(), "to": ends.isoformat()}
    for _ in range(3):  # warm-up
        response = await http.get("/api/v1/availability", params=params)
        if response.status_code != 200:
            raise RuntimeError(f"availability answered {response.status_code}: {response.text[:300]}")
    rows = await bare_calendar_fetch(catalog.branch_id, starts, ends)
    if await bare_calendar_fetch(catalog.branch_id, starts, ends, bounded=True) != rows:
        raise RuntimeError("the bounded calendar query does not return the same rows")
    ctx = await load_service(catalog.measured_service_id)
    slots = 0
    http_ms: list[float] = []
    sql_ms: list[float] = []
    bounded_ms: list[float] = []
    load_ms: list[float] = []
    engine_ms: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await http.get("/api/v1/availability", params=params)
        http_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"availability answered {response.status_code}: {response.text[:300]}")
        slots = len(response.json()["slots"])
        started = time.perf_counter()
        await bare_calendar_fetch(catalog.branch_id, starts, ends)
        sql_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        await bare_calendar_fetch(catalog.branch_id, starts, ends, bounded=True)
        bounded_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        calendars, seats_taken = await load_calendars(catalog.branch_id, starts, ends, kinds=MEASURED_KINDS)
        load_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        find_slots(
            ctx.rules, calendars, tz=ctx.timezone, window_start=starts, window_end=ends, now=datetime.now(UTC),
            seats_taken=seats_taken,
        )
        engine_ms.append((time.perf_counter() - started) * 1000)
    return Availability(slots, http_ms, sql_ms, bounded_ms, load_ms, engine_ms)


@dataclass(frozen=True)
class Load:
    statuses: Counter[int]  # -1: transport error or timeout
    seconds: float
    latencies_ms: list[float]
    first_error: str = ""

    def rate(self, status: int) -> float:
        return self.statuses[status] / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in (200, 201, 409))


Work = Sequence[tuple[str, str, Any, dict[str, str]]]  # (method, path, JSON body, headers)


async def run_clients(pool: Sequence[httpx.AsyncClient], work: Work, config: BenchConfig) -> Load:
    """Every keep-alive client of `pool` takes requests from one queue until it is empty; the clock runs
    from the first request to the last answer."""
    queue = deque(work)
    statuses: Counter[int] = Counter()
    latencies_ms: list[float] = []
    errors: list[str] = []

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            method, path, body, extra = queue.popleft()
            sent = time.perf_counter()
            try:
                response = await http.request(method, path, json=body, headers=extra)
                status = response.status_code
                if status not in (200, 201, 409) and not errors:
                    errors.append(f"{status} {response.text[:300]}")
            except httpx.HTTPError as exc:
                status = -1
                if not errors:
                    errors.append(f"{type(exc).__name__}: {exc}")
            statuses[status] += 1
            latencies_ms.append((time.perf_counter() - sent) * 1000)

    await asyncio.gather(*(http.get("/healthz") for http in pool))  # connections open before the clock
    started = time.perf_counter()
    async with asyncio.timeout(config.phase_timeout_s), asyncio.TaskGroup() as clients:
        for http in pool:
            clients.create_task(client(http))
    return Load(statuses, time.perf_counter() - started, latencies_ms, errors[0] if errors else "")


def booking_work(token: str, service_id: UUID, starts: Sequence[datetime], tag: str, phone_prefix: str) -> Work:
    """One create request per start: a new customer each, an Idempotency-Key as a partner would send."""
    return [
        (
            "POST", "/api/v1/bookings",
            {
                "service_id": str(service_id), "starts_at": start.astimezone(TZ).isoformat(), "channel": "api",
                "customer": {"name": f"压测{tag}{n}", "phone": f"+86138{phone_prefix}{n:07d}"},
            },
            {"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{tag}-{n}"},
        )
        for n, start in enumerate(starts)
    ]


async def bookable_starts(catalog: Catalog, days: tuple[int, int], wanted: int, rng: random.Random) -> list[datetime]:
    """Up to `wanted` distinct starts of the measured service in the window, in random order, that can all
    be booked together: planned one by one with the pure engine over in-memory calendars, each planned
    booking holding its resources for the next. The server may pick other resources than the plan, so a
    few 409s remain possible; they are counted, not avoided."""
    now = datetime.now(UTC)
    starts_at, ends_at = window(days, now)
    ctx = await load_service(catalog.measured_service_id)
    calendars, seats_taken = await load_calendars(catalog.branch_id, starts_at, ends_at, kinds=MEASURED_KINDS)
    rules, tz = ctx.rules, ctx.timezone
    slots = find_slots(
        rules, calendars, tz=tz, window_start=starts_at, window_end=ends_at, now=now, seats_taken=seats_taken
    )
    free = [slot.starts_at for slot in slots]
    rng.shuffle(free)
    by_day: dict[date, list[ResourceCalendar]] = {}  # calendars cut to one local day, as planned so far
    chosen: list[datetime] = []
    for start in free:
        if len(chosen) == wanted:
            break
        day = start.astimezone(tz).date()
        if (day_calendars := by_day.get(day)) is None:
            low, high, _, _ = Held.between(
                local_midnight(day) - CALENDAR_MARGIN, local_midnight(day) + 2 * CALENDAR_MARGIN, 0, ""
            )
            day_calendars = by_day[day] = [
                replace(c, held=tuple(h for h in c.held if Held(*h).end > low and Held(*h).start < high))
                for c in calendars
            ]
        slot = check_start(rules, day_calendars, start, tz=tz, now=now, seats_taken=seats_taken)
        if slot is None:
            continue
        holds = {h.resource_id: h for h in holds_for(rules, slot, day_calendars)}
        by_day[day] = [
            replace(c, held=(
                *c.held, Held.between(holds[c.id].starts_at, holds[c.id].ends_at, holds[c.id].unit, f"plan-{len(chosen)}")
            )) if c.id in holds else c
            for c in day_calendars
        ]
        chosen.append(start)
    if not chosen:
        raise RuntimeError("no free start in the throughput window")
    return chosen


@dataclass(frozen=True)
class CpuMeter:
    """Where the CPU of a measurement goes: the server, production mode's worker processes, and (on
    PostgreSQL) the database's processes. Embedded SQLite does all of it inside the server."""

    server: int
    workers: tuple[int, ...]
    database: str | None  # the PostgreSQL database's name: its backends are counted, no other's

    def read(self) -> dict[str, float]:
        return {
            "server": tree_cpu_seconds(self.server),
            "worker": sum(cpu_seconds(pid) for pid in self.workers) if self.workers else math.nan,
            "database": database_cpu_seconds(self.database) if self.database else math.nan,
        }

    def since(self, before: dict[str, float]) -> dict[str, float]:
        return {name: used - before[name] for name, used in self.read().items()}


@dataclass(frozen=True)
class Loads:
    healthz: Load  # the no-op baseline: no token, so no authentication either
    healthz_auth: Load | None  # the same with the bearer token: what authenticating a request costs
    bookings: Load
    booking_cpu_s: dict[str, float]  # CPU seconds used while the bookings ran, by whom


async def measure_load(
    pool: Sequence[httpx.AsyncClient], token: str, catalog: Catalog, config: BenchConfig, phase: int,
    rng: random.Random, cpu: CpuMeter, *, with_auth: bool,
) -> Loads:
    """A few warm-up bookings, then /healthz requests per second, then booking creations, all from the
    same clients. `phase` keeps idempotency keys and customer phones apart between phases."""
    service_id = catalog.measured_service_id
    warmup = await bookable_starts(catalog, WARMUP_DAYS, config.warmup_bookings, rng)
    await run_clients(pool, booking_work(token, service_id, warmup, f"w{phase}", str(phase + 4)), config)
    healthz = await run_clients(pool, [("GET", "/healthz", None, {})] * config.healthz_requests, config)
    healthz_auth = None
    if with_auth:
        authorised = [("GET", "/healthz", None, {"Authorization": f"Bearer {token}"})]
        healthz_auth = await run_clients(pool, authorised * (config.healthz_requests // 4), config)
    starts = await bookable_starts(catalog, THROUGHPUT_DAYS, config.booking_requests, rng)
    before = cpu.read()
    bookings = await run_clients(pool, booking_work(token, service_id, starts, f"p{phase}", str(phase)), config)
    return Loads(healthz, healthz_auth, bookings, cpu.since(before))


DOUBLE_BOOKINGS_SQL = {
    # The exclusion constraint's own index answers the range overlap.
    "postgresql": """
SELECT count(*) AS n FROM allocation a JOIN allocation b
  ON b.resource = a.resource AND b.unit = a.unit AND b.holder <> a.holder AND b.id > a.id
 AND tstzrange(b.starts_at, b.ends_at, '[)') && tstzrange(a.starts_at, a.ends_at, '[)')
 WHERE a.active AND b.active
""",
    # Each overlapping pair once: b starts within a (ties broken by id); (resource, starts_at) is indexed.
    "sqlite": """
SELECT count(*) AS n FROM allocation a JOIN allocation b
  ON b.resource = a.resource AND b.unit = a.unit AND b.holder <> a.holder AND b.id <> a.id
 AND b.starts_at >= a.starts_at AND b.starts_at < a.ends_at AND (b.starts_at > a.starts_at OR b.id > a.id)
 WHERE a.active AND b.active
""",
}


async def double_bookings() -> tuple[int, int]:
    """(overlapping pairs of active allocations of one resource unit with different holders, active
    allocations checked)."""
    engine = core_db.current_engine()
    pairs = await engine.run_querystring(QueryString(DOUBLE_BOOKINGS_SQL[core_db.current_dialect()]))
    checked = await engine.run_querystring(QueryString("SELECT count(*) AS n FROM allocation WHERE active"))
    return int(pairs[0]["n"]), int(checked[0]["n"])


# --- One engine ------------------------------------------------------------------------------------


class Progress:
    def __init__(self, engine: str, log: TextIO) -> None:
        self.engine, self.log, self.started = engine, log, time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {self.engine}: {message}", file=self.log, flush=True)


async def create_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run_engine(engine: str, config: BenchConfig, log: TextIO, *, keep: bool = False) -> EngineResult:
    """Everything for one engine; the server never outlives it, nor (unless `keep`) the temporary
    directory with the server's log and the database."""
    progress = Progress(engine, log)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix=f"appliance-bench-{engine}-"))
    pg_name = f"appliance_bench_{uuid.uuid4().hex[:10]}" if engine == "postgresql" else None
    server: Server | None = None
    children: list[Child] = []  # production mode's redis-server and worker
    pool_open = pg_created = False
    try:
        if pg_name:
            await create_database(pg_name)
            pg_created = True
            database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
        else:
            database_url = f"sqlite:///{workdir / 'appliance.db'}"
        env = server_env(workdir / "var", database_url)
        if pg_name:
            # PostgreSQL runs as production does: Redis broker, the worker in a process of its own.
            redis_server, env["APPLIANCE_REDIS_URL"] = start_redis(workdir)
            children.append(redis_server)
            env["APPLIANCE_HTTP_WORKERS"] = str(config.http_workers)
        progress("migrating")
        await asyncio.to_thread(migrate, env)
        settings = load_settings({
            "APPLIANCE_DATABASE_URL": database_url, "APPLIANCE_DATA_DIR": str(workdir / "var"),
            "APPLIANCE_LOG_LEVEL": "warning",
        })
        open_database(settings)
        await core_db.start_pool()
        pool_open = True
        progress("seeding the catalog through the actions")
        began = time.perf_counter()
        catalog = await seed_catalog()
        token = await create_token()
        seed_catalog_s = time.perf_counter() - began
        if pg_name:
            progress("starting appliance worker")
            children.append(appliance_worker(1, PRODUCTION_WORKER_THREADS, env, workdir))
            await wait_for_workers(children[1:], config.server_start_timeout_s)
        progress("starting appliance serve")
        server = Server(env, workdir / "server.log")
        await server.wait_ready(config.server_start_timeout_s)
        cpu = CpuMeter(server.process.pid, tuple(c.process.pid for c in children[1:]), database=pg_name or None)
        result = await _measure(engine, config, catalog, token, server, progress, cpu)
        result.figures.insert(0, Figure("seed_catalog_s", seed_catalog_s, 2))
        result.figures.append(Figure("run_s", time.perf_counter() - started, 1))
        result.machine += f", {os.getloadavg()[0]:.2f} at the end"
        if result.problems:
            for line in server.error_lines():
                progress(f"server error: {line}")
        return result
    finally:
        if server is not None:
            server.stop()
            if server.process.returncode not in (0, -15, None):
                progress(f"server exited with {server.process.returncode}:\n{server.log_tail()}")
        for child in reversed(children):
            child.stop()
        if pool_open:
            await core_db.close_pool()
        if keep:
            progress(f"kept {workdir}" + (f" and database {pg_name}" if pg_created else ""))
        else:
            if pg_name and pg_created:
                await drop_database(pg_name)
            shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class Phase:
    """What one phase measured: availability, then load from the same clients."""

    availability: Availability
    load: Loads
    double_bookings: int


async def _phase(
    http: httpx.AsyncClient, pool: Sequence[httpx.AsyncClient], token: str, catalog: Catalog, config: BenchConfig,
    number: int, rng: random.Random, progress: Progress, cpu: CpuMeter, *, name: str,
) -> Phase:
    starts, ends = window(AVAILABILITY_DAYS, datetime.now(UTC))
    progress(f"{name}: availability")
    availability = await measure_availability(http, catalog, starts, ends, config.availability_requests)
    progress(f"{name}: /healthz and {config.booking_requests} bookings from {config.clients} clients")
    load = await measure_load(pool, token, catalog, config, number, rng, cpu, with_auth=number == 3)
    pairs, _ = await double_bookings()
    return Phase(availability, load, pairs)


async def _measure(
    engine: str, config: BenchConfig, catalog: Catalog, token: str, server: Server, progress: Progress,
    cpu: CpuMeter,
) -> EngineResult:
    result = EngineResult(engine, machine=f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    rng = random.Random(config.seed)
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=config.request_timeout_s
        ))
        ssl_context = httpx.create_ssl_context()  # shared: httpx would build one per client, even for http
        pool = [
            await stack.enter_async_context(httpx.AsyncClient(
                base_url=server.base_url, timeout=config.request_timeout_s, verify=ssl_context,
            ))
            for _ in range(config.clients)
        ]
        empty = await _phase(http, pool, token, catalog, config, 1, rng, progress, cpu, name="empty database")

        progress("deleting the empty phase's bookings")
        await delete_bookings()
        progress(f"planning {config.bookings} bookings over a year")
        began = time.perf_counter()
        now = datetime.now(UTC)
        history = plan_history(catalog, config.bookings, config.customers, now=now, seed=config.seed)
        await insert_rows("customer", SEALED_CUSTOMER_COLUMNS, sealed_customers(history.customers))
        seed_s = time.perf_counter() - began  # planning and customers; the whole year's bookings follow
        bookings, allocations = history.ahead(now)
        progress(f"writing the {len(bookings)} bookings ahead, {len(allocations)} allocations")
        await write_bookings(bookings, allocations)
        ahead = await _phase(http, pool, token, catalog, config, 2, rng, progress, cpu, name="no history")

        progress("deleting the bookings")
        await delete_bookings()
        progress(f"writing {len(history.bookings)} bookings, {len(history.allocations)} allocations")
        began = time.perf_counter()
        await write_bookings(history.bookings, history.allocations)
        seed_s += time.perf_counter() - began

        full = await _phase(http, pool, token, catalog, config, 3, rng, progress, cpu, name="history")
        _, checked = await double_bookings()

        progress("deleting the bookings")
        await delete_bookings()
        progress(f"writing the {len(bookings)} bookings ahead again, {len(allocations)} allocations")
        await write_bookings(bookings, allocations)
        again = await _phase(http, pool, token, catalog, config, 4, rng, progress, cpu, name="no history, again")

    result.figures += _figures(engine, history, seed_s, Phases(empty, ahead, full, again), checked)
    order = {name: i for i, name in enumerate(FIGURE_NAMES)}
    result.figures.sort(key=lambda f: order.get(f.name, len(order)))
    if pairs := empty.double_bookings + ahead.double_bookings + full.double_bookings + again.double_bookings:
        result.problems.append(f"{pairs} double booking(s)")
    loads = (
        (empty.load.bookings, "empty phase bookings"), (ahead.load.bookings, "no-history phase bookings"),
        (full.load.bookings, "history phase bookings"), (again.load.bookings, "second no-history phase bookings"),
        (empty.load.healthz, "empty phase /healthz"), (ahead.load.healthz, "no-history phase /healthz"),
        (full.load.healthz, "history phase /healthz"), (again.load.healthz, "second no-history phase /healthz"),
        (full.load.healthz_auth, "history phase /healthz with a token"),
    )
    for measured, what in loads:
        if measured is not None and measured.errors:
            result.problems.append(f"{measured.errors} unexpected answer(s) in {what}, first: {measured.first_error}")
    return result


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


@dataclass(frozen=True)
class Phases:
    empty: Phase  # no bookings at all
    ahead: Phase  # the year's bookings from today on: the same calendar ahead as `full`, no history
    full: Phase  # the whole year: 240 days of history too
    again: Phase  # `ahead` once more, after `full`: the history targets compare `full` with both


def _figures(engine: str, history: History, seed_s: float, phases: Phases, checked: int) -> list[Figure]:
    rows = len(history.customers) + len(history.bookings) + len(history.allocations)
    empty, ahead, full, again = phases.empty, phases.ahead, phases.full, phases.again
    empty_median, full_median = median(empty.availability.http_ms), median(full.availability.http_ms)
    ahead_median, ahead_rate = median(ahead.availability.http_ms), ahead.load.bookings.rate(201)
    again_median, again_rate = median(again.availability.http_ms), again.load.bookings.rate(201)
    # The history phase's baseline: the no-history phases before and after it, averaged.
    no_history_median, no_history_rate = (ahead_median + again_median) / 2, (ahead_rate + again_rate) / 2
    empty_rate, rate = empty.load.bookings.rate(201), full.load.bookings.rate(201)
    empty_healthz, healthz = empty.load.healthz.rate(200), full.load.healthz.rate(200)
    healthz_auth = full.load.healthz_auth.rate(200) if full.load.healthz_auth else 0.0
    bookings = full.load.bookings.statuses
    if engine == "postgresql":
        median_figure = at_most("availability_median_ms", full_median, AVAILABILITY_MEDIAN_MS, 1)
    else:
        median_figure = Figure(
            "availability_median_ms", full_median, 1, target=f"<={AVAILABILITY_MEDIAN_MS:g}",
            note="the target is for postgresql",
        )
    pairs = empty.double_bookings + ahead.double_bookings + full.double_bookings + again.double_bookings
    return [
        count("seed_customers", len(history.customers)),
        count("seed_bookings", len(history.bookings)),
        count("seed_allocations", len(history.allocations)),
        Figure("seed_s", seed_s, 1, note="planning and bulk insert"),
        Figure("seed_rows_per_s", _ratio(rows, seed_s), 0),
        *(Figure(f"{kind}_busy", history.busy(kind), 2, note="share of the year's working time held")
          for kind in ("staff", "room", "equipment")),
        count("empty_availability_slots", empty.availability.slots),
        Figure("empty_availability_median_ms", empty_median, 1),
        Figure("empty_availability_sql_ms", median(empty.availability.sql_ms), 2),
        at_most(
            "empty_availability_ratio", _ratio(empty_median, median(empty.availability.sql_ms)), AVAILABILITY_RATIO
        ),
        Figure("empty_healthz_per_s", empty_healthz, 0),
        count("empty_booking_created", empty.load.bookings.statuses[201]),
        count("empty_booking_conflicts", empty.load.bookings.statuses[409]),
        count("empty_booking_errors", empty.load.bookings.errors),
        Figure("empty_booking_created_per_s", empty_rate, 1),
        at_least("empty_booking_ratio", _ratio(empty_rate, empty_healthz), BOOKING_RATIO, 3),
        count("ahead_availability_slots", ahead.availability.slots),
        Figure("ahead_availability_median_ms", ahead_median, 1, note="the year's bookings from today on, no history"),
        count("ahead_booking_created", ahead.load.bookings.statuses[201]),
        Figure("ahead_booking_created_per_s", ahead_rate, 1),
        Figure(
            "again_availability_median_ms", again_median, 1, note="the same, measured again after the history phase"
        ),
        count("again_booking_created", again.load.bookings.statuses[201]),
        Figure("again_booking_created_per_s", again_rate, 1),
        count("availability_slots", full.availability.slots),
        median_figure,
        Figure("availability_p95_ms", p95(full.availability.http_ms), 1),
        Figure("availability_sql_ms", median(full.availability.sql_ms), 2,
               note="baseline: bare SQL fetch of the same rows"),
        Figure("availability_sql_bounded_ms", median(full.availability.bounded_sql_ms), 2,
               note="the same with a lower bound on starts_at, for attribution"),
        Figure("availability_load_calendars_ms", median(full.availability.load_calendars_ms), 2,
               note="load_calendars in-process, for attribution"),
        Figure("availability_engine_ms", median(full.availability.engine_ms), 2,
               note="find_slots in-process, for attribution"),
        at_most("availability_ratio", _ratio(full_median, median(full.availability.sql_ms)), AVAILABILITY_RATIO),
        Figure("healthz_per_s", healthz, 0, note="baseline: no-op endpoint, same clients, no token"),
        Figure("healthz_auth_per_s", healthz_auth, 0, note="the same with the bearer token, for attribution"),
        count("booking_requests", sum(bookings.values())),
        count("booking_created", bookings[201]),
        count("booking_conflicts", bookings[409]),
        count("booking_errors", full.load.bookings.errors),
        Figure("booking_created_per_s", rate, 1),
        Figure("booking_p95_ms", p95(full.load.bookings.latencies_ms), 0, note="per request, every client busy"),
        Figure("booking_max_ms", max(full.load.bookings.latencies_ms), 0),
        at_least("booking_ratio", _ratio(rate, healthz), BOOKING_RATIO, 3),
        Figure("booking_ratio_auth", _ratio(rate, healthz_auth), 3,
               note="against /healthz with the token, for attribution"),
        *(
            Figure(f"booking_cpu_{name}_ms", 1000 * used / max(1, bookings[201]), 2, note=CPU_NOTES[name])
            for name, used in full.load.booking_cpu_s.items()
        ),
        at_most("history_availability_slowdown", _ratio(full_median, no_history_median), HISTORY_SLOWDOWN),
        at_most("history_throughput_slowdown", _ratio(no_history_rate, rate), HISTORY_SLOWDOWN),
        Figure("busy_calendar_availability_slowdown", _ratio(ahead_median, empty_median), 2,
               note="no history against an empty database: the cost of a busy calendar ahead, for attribution"),
        Figure("busy_calendar_throughput_slowdown", _ratio(empty_rate, ahead_rate), 2, note="likewise"),
        count("allocations_checked", checked),
        Figure("double_bookings", pairs, 0, target="=0", ok=pairs == 0),
    ]


# --- Entry point -----------------------------------------------------------------------------------


def print_result(result: EngineResult, heading: str, out: TextIO, counts: Sequence[str] = ()) -> None:
    """A benchmark's table under its heading, one figure a line. `counts` name figures that must be above
    zero whatever the machine; one that is not becomes a structural problem here."""
    print(f"\n== {result.engine}: {heading}; {result.machine} ==", file=out)
    for figure in result.figures:
        print(figure.line(result.engine), file=out)
    if result.figures:
        for name in counts:
            if not any(f.name == name and f.value > 0 for f in result.figures):
                result.problems.append(f"{name} is not above zero")
    for problem in result.problems:
        print(f"{result.engine} STRUCTURAL FAILURE: {problem}", file=out)
    out.flush()


def report(result: EngineResult, config: BenchConfig, out: TextIO) -> None:
    heading = (f"{config.bookings} bookings of history, {config.clients} clients, "
               f"{config.availability_requests} availability requests")
    print_result(result, heading, out, COUNT_FIGURES)


def run(
    engines: Sequence[str], config: BenchConfig, *, out: TextIO = sys.stdout, log: TextIO = sys.stderr,
    keep: bool = False,
) -> list[EngineResult]:
    """Benchmark each engine in turn, printing its figures as soon as it is done; returns them for callers
    such as the smoke test. An engine whose run breaks is reported as a structural failure, and the next
    one still runs."""
    configure_logging("console", "warning")  # seeding through the actions would log every event they emit

    async def all_engines() -> list[EngineResult]:
        results = []
        for engine in engines:
            try:
                result = await run_engine(engine, config, log, keep=keep)
            except Exception as exc:  # one engine's breakdown must not hide the other's figures
                traceback.print_exc(file=log)
                machine = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
                result = EngineResult(engine, problems=[f"the run broke: {type(exc).__name__}: {exc}"], machine=machine)
            report(result, config, out)
            results.append(result)
        return results

    return asyncio.run(all_engines())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.booking_engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=(*ENGINES, "both"), default="both")
    parser.add_argument(
        "--bookings", type=int, default=None, help="bookings of history (default 100000; 2000 with --quick)"
    )
    parser.add_argument("--clients", type=int, default=None, help="concurrent booking clients (default 32)")
    parser.add_argument(
        "--http-workers", type=int, default=None, help="server processes on PostgreSQL (APPLIANCE_HTTP_WORKERS, default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the database and the server log for inspection")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.bookings is not None:
        if args.bookings < 1:
            parser.error("--bookings must be at least 1")
        config = replace(config, bookings=args.bookings)
    if args.clients is not None:
        if args.clients < 1:
            parser.error("--clients must be at least 1")
        config = replace(config, clients=args.clients)
    if args.http_workers is not None:
        if not 1 <= args.http_workers <= 64:
            parser.error("--http-workers must be between 1 and 64")
        config = replace(config, http_workers=args.http_workers)
    engines = ENGINES if args.engine == "both" else (args.engine,)
    # A terminated run cleans up as an interrupted one does: server stopped, database dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.perf_counter()
    try:
        results = run(engines, config, keep=args.keep)
    except KeyboardInterrupt:
        print("interrupted: server stopped, temporary files and databases removed", file=sys.stderr)
        return 130
    print(f"\ntotal_s={time.perf_counter() - started:.1f}")
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
