"""Audit-log benchmark: how fast a bundle of 1,000,000 entries is verified (entries/s), next to hashing the
same lines alone, measured in the same run; and what it takes to seal and export them. Not a timed test: it
prints figures and never fails on speed.

    .venv/bin/python -m tests.bench.audit_verify [--quick] [--entries N] [--engine sqlite|postgresql|both]
        [--hash sha256|sm3] [--keep]

Setup per engine: a fresh SQLite file (or PostgreSQL database `appliance_bench_audit_<random>`, dropped
afterwards), migrated; N audit entries (1,000,000; 20,000 with --quick) written in bulk as actions would
have written them one by one — a mix of booking, customer, auth and rule actions by users, tokens and the
system, with addresses, request ids, changed field names and small details, spread over the last 170 days
(so nothing is due for archiving). The appliance's per-transaction trail would take hours for a million;
the rows are the same.

Then the real code, timed: the sealer (`seal_pending`: places, leaf hashes, the log's head), the export
(`export_audit_log`: seal, sign a checkpoint, write the zip), the verifier in this process (`verify_bundle`,
what `appliance audit verify` runs) and `appliance audit verify` itself in a child process (wall time and
its peak RSS, from /proc: the whole bundle is never held in memory). Baseline: the same lines read from the same zip and leaf-hashed, nothing else — verification's
cost over the hash it cannot avoid.

Structural checks (non-zero exit when one fails): the bundle verifies; a copy with one entry in the middle
edited fails, naming that entry.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import asyncpg

from appliance.audit.actions import export_audit_log
from appliance.audit.config import config_from, configure_audit
from appliance.audit.merkle import Hasher, HashName
from appliance.audit.sealing import seal_pending
from appliance.audit.verify import ENTRIES, verify_bundle
from appliance.auth.actor import cli_actor
from appliance.core import db as core_db
from appliance.db import open_database
from appliance.db.migrate import apply_migrations
from appliance.settings import load_settings
from tests.bench.booking_engine import (
    POSTGRES_ADMIN_URL, EngineResult, Figure, Progress, count, create_database, drop_database, print_result,
)

ENGINES = ("sqlite", "postgresql")
INSERT_BATCH = 5_000

# Every figure line a run prints per engine, in order; the smoke test checks they are all there.
FIGURE_NAMES = (
    "entries", "write_s", "seal_s", "seal_entries_per_s", "export_s", "export_entries_per_s", "bundle_mb",
    "bundle_bytes_per_entry", "hash_only_s", "hash_only_entries_per_s", "verify_s", "verify_entries_per_s",
    "verify_over_hash_only", "verify_cli_s", "verify_cli_entries_per_s", "verify_cli_peak_rss_mb",
    "tampered_detect_s", "run_s",
)
COUNT_FIGURES = ("entries", "seal_entries_per_s", "export_entries_per_s", "verify_entries_per_s", "verify_cli_entries_per_s")


@dataclass(frozen=True)
class BenchConfig:
    entries: int = 1_000_000
    hash_name: HashName = "sha256"
    seed: int = 20_261_126


FULL = BenchConfig()
QUICK = BenchConfig(entries=20_000)

_ACTIONS = [
    ("booking.created", "booking", ["customer_id", "service_id", "starts_at", "status"]),
    ("booking.confirmed", "booking", ["status"]),
    ("booking.rescheduled", "booking", ["ends_at", "starts_at"]),
    ("booking.cancelled", "booking", ["status"]),
    ("customer.updated", "customer", ["email", "name", "phone"]),
    ("auth.logged_in", "user", []),
    ("auth.login_failed", "user", []),
    ("rule.updated", "rule", ["actions", "conditions"]),
    ("message.sent", "message", ["status"]),
]


def _rows(config: BenchConfig) -> Iterator[tuple[Any, ...]]:
    """The entries as column tuples, oldest first, made as they are written (a million would not fit in a
    small machine's memory at once): id, occurred_at, actor kind, id, label, auth method, ip, request id,
    action, target type, target id, result, reason, changed fields (JSON), details (JSON)."""
    rng = random.Random(config.seed)
    users = [(str(uuid.UUID(int=rng.getrandbits(128))), f"staff{n:03d}") for n in range(40)]
    start = datetime.now(UTC) - timedelta(days=170)
    step = timedelta(days=169) / max(1, config.entries)
    for number in range(config.entries):
        action, target_type, fields = _ACTIONS[rng.randrange(len(_ACTIONS))]
        kind = rng.choice(("user", "user", "user", "api_token", "system"))
        actor_id, label = rng.choice(users) if kind != "system" else (None, "system")
        failed = action == "auth.login_failed"
        details = {"branch_id": str(uuid.UUID(int=rng.getrandbits(128))), "channel": rng.choice(("web", "wechat", "phone"))}
        if target_type == "booking":
            details["status"] = rng.choice(("confirmed", "pending_approval", "cancelled"))
        yield (
            uuid.UUID(int=rng.getrandbits(128)), start + step * number, kind, actor_id, label,
            {"user": "password", "api_token": "token", "system": "system"}[kind],
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}", uuid.uuid4().hex,
            action, target_type, str(uuid.UUID(int=rng.getrandbits(128))), "failure" if failed else "success",
            "wrong password" if failed else "", json.dumps(fields), json.dumps(details),
        )


_COLUMNS = (
    "id", "occurred_at", "actor_kind", "actor_id", "actor_label", "auth_method", "ip", "request_id", "action",
    "target_type", "target_id", "result", "reason", "changed_fields", "details",
)


def _write_sqlite(path: Path, rows: Iterator[tuple[Any, ...]]) -> None:
    """As Piccolo stores them: UUIDs as text, UTC timestamps as `str(datetime)`, JSON as text."""
    with sqlite3.connect(path) as conn:
        conn.executemany(
            f"INSERT INTO audit_entry ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            ([str(r[0]), str(r[1]), *r[2:]] for r in rows),
        )


async def _write_postgresql(url: str, rows: Iterator[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        while batch := list(itertools.islice(rows, 50_000)):
            await conn.copy_records_to_table("audit_entry", records=batch, columns=list(_COLUMNS))
    finally:
        await conn.close()


def _hash_only(bundle: Path, hash_name: HashName) -> int:
    """Read entries.jsonl from the zip and leaf-hash each line: the floor under any verifier."""
    leaf = Hasher(hash_name).leaf
    hashed = 0
    with zipfile.ZipFile(bundle) as archive, archive.open(ENTRIES) as handle:
        rest = b""
        while chunk := handle.read(1 << 20):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                leaf(line)
            hashed += len(lines)
    return hashed


def _tampered(bundle: Path, seq: int) -> Path:
    """A copy with entry `seq` edited, zipped again."""
    out = bundle.with_name("tampered.zip")
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            data = source.read(name)
            if name == ENTRIES:
                lines = data.split(b"\n")
                lines[seq - 1] = lines[seq - 1].replace(b'"result":"success"', b'"result":"denied"').replace(
                    b'"result":"failure"', b'"result":"success"'
                )
                data = b"\n".join(lines)
            target.writestr(name, data)
    return out


# `appliance audit verify` itself, reporting its peak RSS on the way out. VmHWM, not getrusage: a child's
# ru_maxrss also counts the memory of the process it was forked from, before exec.
_CLI_WITH_PEAK = (
    "import atexit, re, sys\n"
    "atexit.register(lambda: print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(0),"
    " file=sys.stderr))\n"
    "from appliance.cli import main\n"
    "sys.argv = ['appliance', 'audit', 'verify', sys.argv[1]]\n"
    "main()\n"
)


def _cli_verify(bundle: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """`appliance audit verify` in a child process: wall seconds, its peak RSS in MB, the result."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CLI_WITH_PEAK, str(bundle)], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - began
    peak = re.search(r"VmHWM:\s+(\d+)", done.stderr)
    return elapsed, int(peak.group(1)) / 1024 if peak else math.nan, done


async def run_engine(engine: str, config: BenchConfig, log: TextIO, *, keep: bool = False) -> EngineResult:
    progress = Progress(engine, log)
    started = time.perf_counter()
    result = EngineResult(engine, machine=f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    workdir = Path(tempfile.mkdtemp(prefix=f"appliance-bench-audit-{engine}-"))
    pg_name = f"appliance_bench_audit_{uuid.uuid4().hex[:10]}" if engine == "postgresql" else None
    pool_open = pg_created = False
    try:
        if pg_name:
            await create_database(pg_name)
            pg_created = True
            database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
        else:
            database_url = f"sqlite:///{workdir / 'appliance.db'}"
        settings = load_settings({
            "APPLIANCE_DATABASE_URL": database_url, "APPLIANCE_DATA_DIR": str(workdir / "var"),
            "APPLIANCE_LOG_LEVEL": "warning", "APPLIANCE_LOG_FORMAT": "console",
            "APPLIANCE_CRYPTO_SUITE": "sm4-gcm" if config.hash_name == "sm3" else "aes-256-gcm",
        })
        open_database(settings)
        await core_db.start_pool()
        pool_open = True
        progress("migrating")
        await apply_migrations()
        configure_audit(settings)
        audit = config_from(settings)

        progress(f"writing {config.entries} entries in bulk")
        rows = _rows(config)
        began = time.perf_counter()
        if pg_name:
            await _write_postgresql(database_url, rows)
        else:
            await asyncio.to_thread(_write_sqlite, workdir / "appliance.db", rows)
        write_s = time.perf_counter() - began

        progress("sealing")
        began = time.perf_counter()
        sealed = await seal_pending(audit, wait=True)
        seal_s = time.perf_counter() - began
        if sealed != config.entries:
            result.problems.append(f"sealed {sealed} entries, not {config.entries}")

        progress("exporting")
        began = time.perf_counter()
        export = await export_audit_log(workdir / "bundle.zip", actor=cli_actor())
        export_s = time.perf_counter() - began
        bundle = export.bundle
        if bundle.entries != config.entries:
            result.problems.append(f"the bundle holds {bundle.entries} entries, not {config.entries}")

        progress("hashing the lines alone (baseline)")
        began = time.perf_counter()
        hashed = await asyncio.to_thread(_hash_only, bundle.path, config.hash_name)
        hash_s = time.perf_counter() - began
        if hashed != config.entries:
            result.problems.append(f"hashed {hashed} lines, not {config.entries}")

        progress("verifying in this process")
        began = time.perf_counter()
        report = await asyncio.to_thread(verify_bundle, bundle.path)
        verify_s = time.perf_counter() - began
        if not report.ok:
            result.problems.append(f"the bundle does not verify: {report.problems[0]}")

        progress("verifying with `appliance audit verify`")
        cli_s, cli_rss, cli = await asyncio.to_thread(_cli_verify, bundle.path)
        if cli.returncode != 0 or not cli.stdout.rstrip().endswith("VERIFIED") or math.isnan(cli_rss):
            result.problems.append(f"`appliance audit verify` failed: {cli.stderr.strip() or cli.stdout[-300:]}")

        middle = config.entries // 2 + 1
        progress(f"verifying a copy with entry {middle} edited")
        tampered = await asyncio.to_thread(_tampered, bundle.path, middle)
        began = time.perf_counter()
        caught = await asyncio.to_thread(verify_bundle, tampered)
        detect_s = time.perf_counter() - began
        expected = f"entry seq {middle} (line {middle} of {ENTRIES}) was edited"
        if caught.ok or not caught.problems[0].startswith(expected):
            result.problems.append(f"the edited entry {middle} was not named first: {caught.problems[:1]}")

        n = config.entries
        result.figures = [
            count("entries", n),
            Figure("write_s", write_s, 1, note="bulk rows, not timed as the appliance's path"),
            Figure("seal_s", seal_s, 1),
            Figure("seal_entries_per_s", n / seal_s, 0),
            Figure("export_s", export_s, 1, note="seal, sign, JSON Lines + CSV + leaf hashes, zip"),
            Figure("export_entries_per_s", n / export_s, 0),
            Figure("bundle_mb", bundle.size_bytes / 1e6, 1),
            Figure("bundle_bytes_per_entry", bundle.size_bytes / n, 0),
            Figure("hash_only_s", hash_s, 2, note=f"baseline: unzip and {config.hash_name} leaf hash per line"),
            Figure("hash_only_entries_per_s", n / hash_s, 0),
            Figure("verify_s", verify_s, 2),
            Figure("verify_entries_per_s", n / verify_s, 0, note="in process, every check"),
            Figure("verify_over_hash_only", verify_s / hash_s, 2, note="verification time over the baseline's"),
            Figure("verify_cli_s", cli_s, 2, note="`appliance audit verify`, start-up included"),
            Figure("verify_cli_entries_per_s", n / cli_s, 0),
            Figure("verify_cli_peak_rss_mb", cli_rss, 0, note="the command's own peak, VmHWM"),
            Figure("tampered_detect_s", detect_s, 2, note=f"edited entry {middle} named"),
            Figure("run_s", time.perf_counter() - started, 1),
        ]
        return result
    finally:
        if pool_open:
            await core_db.close_pool()
        if keep:
            progress(f"kept {workdir}" + (f" and database {pg_name}" if pg_created else ""))
        else:
            if pg_name and pg_created:
                await drop_database(pg_name)
            shutil.rmtree(workdir, ignore_errors=True)


def report(result: EngineResult, config: BenchConfig, out: TextIO) -> None:
    print_result(result, f"{config.entries} audit entries, {config.hash_name}", out, COUNT_FIGURES)


def run(
    engines: Sequence[str], config: BenchConfig, *, out: TextIO = sys.stdout, log: TextIO = sys.stderr, keep: bool = False
) -> list[EngineResult]:
    """Each engine in turn, its figures printed as soon as it is done; an engine whose run breaks is reported
    as a structural failure and the next one still runs."""

    async def all_engines() -> list[EngineResult]:
        results = []
        for engine in engines:
            try:
                result = await run_engine(engine, config, log, keep=keep)
            except Exception as exc:  # one engine's breakdown must not hide the other's figures
                traceback.print_exc(file=log)
                result = EngineResult(engine, problems=[f"the run broke: {type(exc).__name__}: {exc}"])
            report(result, config, out)
            results.append(result)
        return results

    return asyncio.run(all_engines())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.audit_verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=(*ENGINES, "both"), default="sqlite")
    parser.add_argument("--entries", type=int, default=None, help="audit entries (default 1000000; 20000 with --quick)")
    parser.add_argument("--hash", choices=("sha256", "sm3"), default="sha256", help="sm3: the national suite")
    parser.add_argument("--quick", action="store_true", help="a small run")
    parser.add_argument("--keep", action="store_true", help="keep the database and the bundle for inspection")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.entries is not None:
        if args.entries < 1:
            parser.error("--entries must be at least 1")
        config = replace(config, entries=args.entries)
    config = replace(config, hash_name=args.hash)
    engines = ENGINES if args.engine == "both" else (args.engine,)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        results = run(engines, config, keep=args.keep)
    except KeyboardInterrupt:
        print("interrupted: temporary files and databases removed", file=sys.stderr)
        return 130
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
