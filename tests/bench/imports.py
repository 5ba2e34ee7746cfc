"""Customer-import benchmark on PostgreSQL: `appliance import-data` as an operator runs it, over a CSV of
100,000 customers with realistic Chinese names, mobile numbers, emails, tags and notes, printing seconds,
rows/s and the importer's peak memory, next to a baseline measured in the same run (PostgreSQL's own
`COPY … FROM` of the same file into a bare table of text columns). Then the same file again, which must
change nothing. Not a timed test: targets print PASS or MISS and never fail the run.

    .venv/bin/python -m tests.bench.imports [--rows N] [--quick]

A fresh database `appliance_bench_<random>` (dropped afterwards) is migrated; the importer runs in a
process of its own so its peak resident set is its own. The issue's target: 100,000 rows under 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
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
from pathlib import Path
from typing import TextIO

import asyncpg

from tests.bench.booking_engine import (
    POSTGRES_ADMIN_URL, EngineResult, Figure, Progress, at_most, create_database, drop_database, migrate, print_result,
    server_env,
)

ENGINE = "postgresql"
TARGET_S = 60.0
PEAK_RSS_MB = 300.0
HEADERS = ("姓名", "手机号", "邮箱", "性别", "生日", "来源", "标签", "备注")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红鹏飞玲桂芝丹宇浩然欣怡子涵梓轩雨婷思远嘉豪佳琪晨曦"
PREFIXES = ("130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "186", "187", "188", "189")
SOURCES = ("大众点评", "美团", "微信", "抖音", "朋友介绍", "路过", "小红书", "")
TAGS = ("VIP", "敏感肌", "老客户", "学生", "孕期", "怕痛", "周末客", "")
NOTES = ("喜欢安静", "对精油过敏", "偏好女技师", "", "", "", "", "")

FIGURE_NAMES = (
    "rows", "file_mb", "import_s", "import_rows_per_s", "peak_rss_mb", "reimport_s", "reimport_rows_per_s",
    "copy_s", "copy_rows_per_s", "import_vs_copy_ratio", "run_s",
)


@dataclass(frozen=True)
class BenchConfig:
    rows: int = 100_000
    seed: int = 20_261_126


QUICK = BenchConfig(rows=300)


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    summary: str


def write_file(path: Path, rows: int, rng: random.Random) -> None:
    """A customer list as a shop exports it from Excel: UTF-8 with a BOM, Chinese headers, unique phones."""
    phones = rng.sample(range(10**8), rows)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for n, number in enumerate(phones):
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            phone = f"{rng.choice(PREFIXES)}{number:08d}"
            email = f"user{n}@example.com" if rng.random() < 0.3 else ""
            birthday = f"{rng.randrange(1960, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}" if rng.random() < 0.6 else ""
            tags = ",".join(t for t in {rng.choice(TAGS), rng.choice(TAGS)} if t)
            writer.writerow([name, phone, email, rng.choice(("男", "女", "女", "")), birthday, rng.choice(SOURCES), tags, rng.choice(NOTES)])


def import_once(env: dict[str, str], path: Path) -> Run:
    """`appliance import-data` in a process of its own: its wall time and peak resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance", "import-data", str(path), "--kind", "customers"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stdout = process.stdout.read() if process.stdout else ""
    stderr = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"appliance import-data failed: {stderr.strip()[-2000:] or stdout.strip()}")
    return Run(seconds, usage.ru_maxrss / 1024, stdout.strip().splitlines()[0])


async def copy_baseline(database_url: str, path: Path) -> float:
    """PostgreSQL's COPY of the same file into a bare table of text columns: the floor for loading it."""
    conn = await asyncpg.connect(database_url)
    try:
        columns = ", ".join(f"c{i} text" for i in range(len(HEADERS)))
        await conn.execute(f"CREATE UNLOGGED TABLE bench_copy ({columns})")
        started = time.perf_counter()
        with path.open("rb") as source:
            source.read(3)  # the BOM
            await conn.copy_to_table("bench_copy", source=source, format="csv", header=True)
        return time.perf_counter() - started
    finally:
        await conn.execute("DROP TABLE IF EXISTS bench_copy")
        await conn.close()


async def customers_in(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM customer"))
    finally:
        await conn.close()


async def run_bench(config: BenchConfig, log: TextIO) -> EngineResult:
    progress = Progress(ENGINE, log)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="appliance-bench-import-"))
    name = f"appliance_bench_{uuid.uuid4().hex[:10]}"
    result = EngineResult(ENGINE, machine=f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    await create_database(name)
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        env = server_env(workdir / "var", url) | {"APPLIANCE_LOG_LEVEL": "warning"}
        progress("migrating")
        await asyncio.to_thread(migrate, env)
        path = workdir / "客户.csv"
        progress(f"writing a CSV of {config.rows} customers")
        write_file(path, config.rows, random.Random(config.seed))
        progress("importing")
        first = await asyncio.to_thread(import_once, env, path)
        progress(f"imported: {first.summary}")
        stored = await customers_in(url)
        progress("importing the same file again")
        second = await asyncio.to_thread(import_once, env, path)
        progress(f"again: {second.summary}")
        progress("COPY baseline")
        copy_s = await copy_baseline(url, path)
        rows = config.rows
        result.figures += [
            Figure("rows", rows, 0),
            Figure("file_mb", path.stat().st_size / 1e6, 1, note="UTF-8 CSV, 8 columns"),
            at_most("import_s", first.seconds, TARGET_S, 1),
            Figure("import_rows_per_s", rows / first.seconds, 0, note="the whole command: start, check pass, write pass"),
            at_most("peak_rss_mb", first.peak_rss_mb, PEAK_RSS_MB, 0),
            Figure("reimport_s", second.seconds, 1, note="the same file again: nothing changes"),
            Figure("reimport_rows_per_s", rows / second.seconds, 0),
            Figure("copy_s", copy_s, 2, note="baseline: COPY FROM of the same file into a bare table"),
            Figure("copy_rows_per_s", rows / copy_s, 0),
            Figure("import_vs_copy_ratio", first.seconds / copy_s, 1, note="import seconds over COPY seconds"),
            Figure("run_s", time.perf_counter() - started, 1),
        ]
        if stored != rows:
            result.problems.append(f"{stored} customers stored of {rows} rows")
        if f"created {rows}," not in first.summary:
            result.problems.append(f"the first import did not create every row: {first.summary}")
        if f"created 0, updated 0, unchanged {rows}" not in second.summary:
            result.problems.append(f"the second import changed something: {second.summary}")
        return result
    except Exception as exc:  # noqa: BLE001 - reported as a structural failure
        result.problems.append(f"the run broke: {type(exc).__name__}: {exc}")
        return result
    finally:
        await drop_database(name)
        shutil.rmtree(workdir, ignore_errors=True)


def run(config: BenchConfig, *, out: TextIO = sys.stdout, log: TextIO = sys.stderr) -> EngineResult:
    result = asyncio.run(run_bench(config, log))
    print_result(result, f"import of {config.rows} customers from CSV", out)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="customer rows (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else BenchConfig()
    if args.rows:
        config = BenchConfig(rows=args.rows, seed=config.seed)
    result = run(config)
    return 1 if result.problems or not result.figures else 0


if __name__ == "__main__":
    raise SystemExit(main())
