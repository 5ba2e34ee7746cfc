"""Reports benchmark: every report over a large generated history, each latency next to the bare aggregate
SQL over the same bookings. Not a timed test: the target (< 1 s a report on PostgreSQL) prints PASS or MISS.

    .venv/bin/python -m tests.bench.reports [--engine sqlite|postgresql|both] [--bookings N] [--quick] [--keep]
        [--repeats N] [--reuse DATABASE]

Per engine: a fresh database (a temporary SQLite file, or a PostgreSQL database `appliance_bench_<random>`
dropped afterwards), migrated in-process; the catalog of tests/bench/report_history.py (two branches,
Asia/Shanghai and America/New_York) made through the actions, with enough staff that the history fits
without double booking; then two years of bookings (1,000,000 by default, 20,000 with --quick) with their
customers, allocations and survey answers written in bulk. Each report is asked for the whole two years
over both branches (bucket month; volume also by day), in-process through `reports.queries.run_report`:
one warm-up, then the median of `--repeats` runs. The baseline is the bare aggregate a report cannot beat:
bookings counted and summed per UTC month and status, no zones, no joins.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from piccolo.querystring import QueryString

from appliance.auth.actor import system_actor
from appliance.core import db as core_db
from appliance.core.log import configure_logging
from appliance.db import open_database
from appliance.db.migrate import apply_migrations
from appliance.reports.catalogue import REPORTS
from appliance.reports.logic import parse_query
from appliance.reports.queries import run_report
from appliance.settings import load_settings
from tests.bench.booking_engine import POSTGRES_ADMIN_URL, create_database, drop_database
from tests.bench.report_history import plan_history, seed_catalog, write_history

ENGINES = ("sqlite", "postgresql")
START, END = datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
FIRST, LAST = date(2025, 1, 1), date(2026, 12, 31)
TARGET_MS = 1000.0
# (report, bucket) measured: every report once, and the trend with the most buckets too.
MEASURED = [(name, "month") for name in REPORTS] + [("volume", "day")]


@dataclass(frozen=True)
class Config:
    bookings: int
    customers: int
    staff_per_branch: int
    rooms_per_branch: int
    repeats: int
    seed: int = 11


FULL = Config(bookings=1_000_000, customers=100_000, staff_per_branch=40, rooms_per_branch=10, repeats=5)
QUICK = Config(bookings=20_000, customers=4_000, staff_per_branch=6, rooms_per_branch=2, repeats=3)


@dataclass
class Result:
    engine: str
    lines: list[str] = field(default_factory=list)
    latencies_ms: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


async def _timed(call: object, repeats: int) -> tuple[float, object]:
    """Median milliseconds of `repeats` awaited calls after one warm-up, and the last answer."""
    assert callable(call)
    answer = await call()
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        answer = await call()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples), answer


def _bare_sql(dialect: str) -> str:
    month = "date_trunc('month', starts_at)" if dialect == "postgresql" else "strftime('%Y-%m', starts_at)"
    return (
        f"SELECT {month} AS m, status, COUNT(*) AS n, SUM(price_amount) AS amount FROM booking"
        " WHERE starts_at >= {} AND starts_at < {} GROUP BY 1, 2"
    )


async def _seed(engine: str, config: Config, result: Result, log: TextIO) -> None:
    began = time.perf_counter()
    catalog = await seed_catalog(config.staff_per_branch, config.rooms_per_branch)
    history = plan_history(catalog, config.bookings, config.customers, start=START, end=END, seed=config.seed)
    print(f"{engine}: planned {len(history.bookings)} bookings, {len(history.allocations)} allocations "
          f"in {time.perf_counter() - began:.1f}s; writing", file=log, flush=True)
    await write_history(history)
    if engine == "postgresql":
        await core_db.current_engine().run_ddl("VACUUM ANALYZE")
    result.lines.append(f"{engine} seed_bookings={len(history.bookings)}")
    result.lines.append(f"{engine} seed_s={time.perf_counter() - began:.1f}")


async def _measure(engine: str, config: Config, result: Result, log: TextIO, *, seed: bool = True) -> None:
    if seed:
        await _seed(engine, config, result, log)
    else:
        count = await core_db.current_engine().run_querystring(QueryString("SELECT COUNT(*) AS n FROM booking"))
        result.lines.append(f"{engine} reused_bookings={count[0]['n']}")
    bare = _bare_sql(core_db.current_dialect())
    bare_ms, _ = await _timed(lambda: core_db.current_engine().run_querystring(
        QueryString(bare, START, END)), config.repeats)
    result.lines.append(f"{engine} bare_aggregate_ms={bare_ms:.1f}")
    actor = system_actor()
    for name, bucket in MEASURED:
        label = name if bucket == "month" else f"{name}_{bucket}"
        print(f"{engine}: {label}", file=log, flush=True)
        query = parse_query(name, from_=FIRST.isoformat(), to=LAST.isoformat(), bucket=bucket, branch_id=None, format_=None)
        ms, answer = await _timed(lambda: run_report(query, actor=actor), config.repeats)
        rows = len(answer.rows)  # type: ignore[attr-defined]
        result.latencies_ms[label], result.rows[label] = ms, rows
        verdict = "PASS" if ms < TARGET_MS else "MISS"
        target = f" target<{TARGET_MS:g} {verdict}" if engine == "postgresql" else ""
        result.lines.append(f"{engine} {label}_ms={ms:.1f} ratio_to_bare={ms / bare_ms:.1f} rows={rows}{target}")
        if rows == 0:
            result.problems.append(f"{label} answered no rows")


async def run_engine(engine: str, config: Config, log: TextIO, *, keep: bool = False, reuse: str | None = None) -> Result:
    """`reuse`: a PostgreSQL database kept by an earlier run (--keep): measure again without seeding."""
    result = Result(engine)
    workdir = Path(tempfile.mkdtemp(prefix=f"appliance-bench-reports-{engine}-"))
    pg_name = reuse or (f"appliance_bench_{uuid.uuid4().hex[:10]}" if engine == "postgresql" else None)
    keep = keep or reuse is not None
    pool_open = False
    try:
        if pg_name:
            if not reuse:
                await create_database(pg_name)
            url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
        else:
            url = f"sqlite:///{workdir / 'appliance.db'}"
        open_database(load_settings({
            "APPLIANCE_DATABASE_URL": url, "APPLIANCE_DATA_DIR": str(workdir / "var"), "APPLIANCE_LOG_LEVEL": "warning",
        }))
        await apply_migrations()
        await core_db.start_pool()
        pool_open = True
        await _measure(engine, config, result, log, seed=reuse is None)
    except Exception as exc:  # one engine's breakdown must not hide the other's figures
        result.problems.append(f"the run broke: {type(exc).__name__}: {exc}")
    finally:
        if pool_open:
            await core_db.close_pool()
        if keep:
            print(f"{engine}: kept {workdir}" + (f" and database {pg_name}" if pg_name else ""), file=log)
        else:
            if pg_name:
                await drop_database(pg_name)
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def run(engines: tuple[str, ...], config: Config, *, out: TextIO = sys.stdout, log: TextIO = sys.stderr,
        keep: bool = False, reuse: str | None = None) -> list[Result]:
    configure_logging("console", "warning")  # the catalog's actions would log every event they emit

    async def every() -> list[Result]:
        results = []
        for engine in engines:
            result = await run_engine(engine, config, log, keep=keep, reuse=reuse)
            print(f"\n== {engine}: {config.bookings} bookings over two years, two branches; "
                  f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} ==", file=out)
            for line in result.lines:
                print(line, file=out)
            for problem in result.problems:
                print(f"{engine} STRUCTURAL FAILURE: {problem}", file=out)
            out.flush()
            results.append(result)
        return results

    return asyncio.run(every())


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=(*ENGINES, "both"), default="postgresql")
    parser.add_argument("--bookings", type=_positive, help="bookings (default 1000000; 20000 with --quick)")
    parser.add_argument("--repeats", type=_positive, help="measured runs per report, median shown")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure again on a PostgreSQL database a --keep run left")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    config = replace(base, bookings=args.bookings or base.bookings, repeats=args.repeats or base.repeats)
    engines = ENGINES if args.engine == "both" else (args.engine,)
    if args.reuse and engines != ("postgresql",):
        parser.error("--reuse needs --engine postgresql")
    results = run(engines, config, keep=args.keep, reuse=args.reuse)
    return 1 if any(r.problems for r in results) else 0

if __name__ == "__main__":
    sys.exit(main())
