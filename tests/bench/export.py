"""Full-export benchmark on PostgreSQL: `appliance export` as IT runs it, over a small and a large number of
bookings, printing archive MB/s, rows/s and the exporter's peak memory, each next to a baseline measured in
the same run (PostgreSQL's own `COPY … TO STDOUT` of the same tables, in CSV). Not a timed test: targets
print PASS or MISS and never fail the run.

    .venv/bin/python -m tests.bench.export [--bookings N] [--quick]

A fresh database `appliance_bench_<random>` (dropped afterwards) is migrated, filled with customers and
bookings in bulk (test scaffolding, not product code), exported at the small size, filled up to the large
size, and exported again. Peak memory must not grow with the size: the issue's target is a peak resident
set under 200 MB, independent of size.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import asyncpg

from appliance.core import db as core_db
from appliance.db import open_database
from appliance.settings import load_settings
from tests.bench.booking_engine import (
    BOOKING_COLUMNS, POSTGRES_ADMIN_URL, SEALED_CUSTOMER_COLUMNS, EngineResult, Figure, Progress, at_most,
    create_database, sealed_bookings, sealed_customers, drop_database, insert_rows, migrate, print_result, server_env,
)
from appliance.testing.builders import make_branch, make_resource, make_service, requirement

ENGINE = "postgresql"
PEAK_RSS_MB = 200.0
RSS_GROWTH = 1.2  # peak memory at the large size over the small one: flat means independent of size
STATUSES = ("confirmed", "completed", "completed", "completed", "cancelled", "no_show")

FIGURE_NAMES = (
    "small_bookings", "small_archive_mb", "small_export_s", "small_peak_rss_mb",
    "bookings", "rows", "archive_mb", "export_s", "export_mb_per_s", "export_rows_per_s", "copy_s",
    "copy_rows_per_s", "export_vs_copy_ratio", "peak_rss_mb", "peak_rss_growth", "run_s",
)


@dataclass(frozen=True)
class BenchConfig:
    small: int = 100_000
    bookings: int = 1_000_000
    seed: int = 20_261_126


QUICK = BenchConfig(small=2_000, bookings=20_000)


@dataclass(frozen=True)
class Run:
    seconds: float
    archive_bytes: int
    peak_rss_mb: float
    rows: int


def _customers(count: int, rng: random.Random, now: datetime) -> list[tuple[object, ...]]:
    return [
        (uuid.UUID(int=rng.getrandbits(128), version=4), f"客户{n}", f"+86139{n:08d}", f"c{n}@example.com",
         rng.choice(("web", "wechat", "phone", "walk_in")), now, now)
        for n in range(count)
    ]


def _bookings(
    count: int, customers: Sequence[tuple[object, ...]], branch: uuid.UUID, service: uuid.UUID, rng: random.Random,
    now: datetime,
) -> list[tuple[object, ...]]:
    rows = []
    for _ in range(count):
        booking_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        starts = now - timedelta(minutes=30 * rng.randrange(0, 2 * 365 * 48))
        rows.append((
            booking_id, branch, service, rng.choice(customers)[0], starts, starts + timedelta(hours=1),
            rng.choice(STATUSES), "web", 1, 19_800, "CNY", "paid", '{"allergy":"无"}', "备注",
            hashlib.sha256(booking_id.bytes).hexdigest(), starts - timedelta(days=2), starts,
        ))
    return rows


async def fill(total: int, already: int, ids: tuple[uuid.UUID, uuid.UUID], rng: random.Random) -> None:
    """Bookings (and one customer per five) up to `total`, in bulk, in batches of 100,000."""
    now = datetime.now(UTC)
    while already < total:
        step = min(100_000, total - already)
        customers = _customers(step // 5 or 1, rng, now)
        # Customer phones must stay unique across batches.
        customers = [(c[0], c[1], f"+86138{already + n:08d}", *c[3:]) for n, c in enumerate(customers)]
        await insert_rows("customer", SEALED_CUSTOMER_COLUMNS, sealed_customers(customers))
        await insert_rows("booking", BOOKING_COLUMNS, sealed_bookings(_bookings(step, customers, *ids, rng, now)))
        already += step
    await core_db.current_engine().run_ddl("VACUUM ANALYZE")


def export_once(env: dict[str, str], out: Path) -> Run:
    """`appliance export` in a process of its own: its wall time, archive size and peak resident memory."""
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance", "export", str(out)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stdout, stderr = process.stdout.read() if process.stdout else "", process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"appliance export failed: {stderr.strip() or stdout.strip()}")
    rows = int(stdout.split()[1])  # "exported N rows of M tables to …"
    return Run(seconds, out.stat().st_size, usage.ru_maxrss / 1024, rows)


async def copy_baseline(database_url: str) -> tuple[float, int]:
    """PostgreSQL writing every exported table as CSV itself, to nowhere: seconds and rows."""
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        tables = [r["tablename"] for r in await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('session_record', 'idempotency_record', 'migration')"
        )]
        rows, started = 0, time.perf_counter()
        for table in tables:
            sink = _Counter()
            await connection.copy_from_table(table, output=sink.write, format="csv", header=True)
            rows += max(0, sink.lines - 1)
        return time.perf_counter() - started, rows
    finally:
        await connection.close()


class _Counter:
    def __init__(self) -> None:
        self.lines = 0

    async def write(self, data: bytes) -> None:
        self.lines += data.count(b"\n")


async def run_bench(config: BenchConfig, log: TextIO) -> EngineResult:
    progress = Progress(ENGINE, log)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="appliance-bench-export-"))
    name = f"appliance_bench_{uuid.uuid4().hex[:10]}"
    result = EngineResult(ENGINE, machine=f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    await create_database(name)
    pool_open = False
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        env = server_env(workdir / "var", url) | {"APPLIANCE_LOG_LEVEL": "warning"}
        progress("migrating")
        await asyncio.to_thread(migrate, env)
        open_database(load_settings({"APPLIANCE_DATABASE_URL": url, "APPLIANCE_DATA_DIR": str(workdir / "var")}))
        await core_db.start_pool()
        pool_open = True
        branch = await make_branch("导出店")
        await make_resource(branch.id, name="王芳", skills=["massage"])
        service = await make_service(branch.id, "精油按摩", 60, [requirement("staff", "massage")])
        rng = random.Random(config.seed)
        progress(f"writing {config.small} bookings")
        await fill(config.small, 0, (branch.id, service.id), rng)
        progress("exporting (small)")
        small = await asyncio.to_thread(export_once, env, workdir / "small.zip")
        progress(f"writing up to {config.bookings} bookings")
        await fill(config.bookings, config.small, (branch.id, service.id), rng)
        progress("exporting (large)")
        large = await asyncio.to_thread(export_once, env, workdir / "large.zip")
        progress("COPY baseline")
        copy_s, copy_rows = await copy_baseline(url)
        mb = large.archive_bytes / 1e6
        result.figures += [
            Figure("small_bookings", config.small, 0),
            Figure("small_archive_mb", small.archive_bytes / 1e6, 1),
            Figure("small_export_s", small.seconds, 1),
            Figure("small_peak_rss_mb", small.peak_rss_mb, 0),
            Figure("bookings", config.bookings, 0),
            Figure("rows", large.rows, 0, note="every exported table"),
            Figure("archive_mb", mb, 1, note="ZIP, deflated, JSON Lines and CSV of each table"),
            Figure("export_s", large.seconds, 1),
            Figure("export_mb_per_s", mb / large.seconds, 2, note="archive bytes written per second"),
            Figure("export_rows_per_s", large.rows / large.seconds, 0),
            Figure("copy_s", copy_s, 1, note="baseline: PostgreSQL's COPY TO STDOUT of the same tables, CSV"),
            Figure("copy_rows_per_s", copy_rows / copy_s, 0),
            Figure("export_vs_copy_ratio", (large.rows / large.seconds) / (copy_rows / copy_s), 3,
                   note="rows per second, export over COPY"),
            at_most("peak_rss_mb", large.peak_rss_mb, PEAK_RSS_MB, 0),
            at_most("peak_rss_growth", large.peak_rss_mb / small.peak_rss_mb, RSS_GROWTH, 2),
            Figure("run_s", time.perf_counter() - started, 1),
        ]
        if large.rows < config.bookings:
            result.problems.append(f"the archive holds {large.rows} rows, fewer than the {config.bookings} bookings")
        return result
    except Exception as exc:  # noqa: BLE001 - reported as a structural failure
        result.problems.append(f"the run broke: {type(exc).__name__}: {exc}")
        return result
    finally:
        if pool_open:
            await core_db.close_pool()
        await drop_database(name)
        shutil.rmtree(workdir, ignore_errors=True)


def report(result: EngineResult, config: BenchConfig, out: TextIO) -> None:
    print_result(result, f"export of {config.small} then {config.bookings} bookings", out)


def run(config: BenchConfig, *, out: TextIO = sys.stdout, log: TextIO = sys.stderr) -> EngineResult:
    result = asyncio.run(run_bench(config, log))
    report(result, config, out)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=None, help="bookings at the large size (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else BenchConfig()
    if args.bookings:
        config = BenchConfig(small=max(1, args.bookings // 10), bookings=args.bookings, seed=config.seed)
    result = run(config)
    return 1 if result.problems or not result.figures else 0


if __name__ == "__main__":
    raise SystemExit(main())
