"""Event-pipeline benchmark against real `appliance worker` processes: outbox fan-out throughput next to bare
Dramatiq no-op throughput measured in the same run, and how late durable timers fire when many fall due within
one minute. Not a timed test: targets print PASS or MISS and never fail the run.

    .venv/bin/python -m tests.bench.events_pipeline [--quick] [--events N] [--timers N] [--threads N]
        [--timer-spread S] [--keep]

Setup: a fresh PostgreSQL database `appliance_bench_events_<random>` migrated with `appliance migrate` and
dropped afterwards; a redis-server of its own on a free loopback port (never the shared one); two worker
processes, each `python -c` running `worker_main` below: it registers the no-op subscriber `bench.noop`
(wants `bench.tick` events) and the baseline actor, then runs the `appliance worker` command itself, sweeper
included (every second), logging at warning except the sweeper's own "swept" lines. Both the subscriber and
the baseline actor do one Redis INCR and nothing else, so the counts prove each ran once and the two paths
carry the same bookkeeping.

Fan-out: N events (5000; 300 quick) are written with `add_events` in ten write transactions by this process,
which binds the Redis broker, so each commit hands its events over in `fan_out` messages of up to
`HAND_OVER_BATCH` (20) ids; the clock runs from just before the first write to the last `bench.noop`
delivery's `completed_at`. A `fan_out` message's task claims its events and creates their deliveries in one
statement, then makes each delivery's first try itself, those that finish in the same turn of the worker's loop
recorded in one statement. Baseline: N messages to an async no-op actor on the same broker and workers, sent by
`BASELINE_SENDERS` threads (one alone sends no faster than two workers handle, and the baseline would measure the
sender), from just before the first send to the moment the worker counting the last one records it. For
attribution: the workers' CPU per event and per message (Linux), and how many messages the sweepers re-sent
meanwhile (from their "swept" lines).

Timers: M timers (10000; 500 quick), `schedule_timer` with 500 per write transaction, due spread evenly over
60 s (10 s quick; `--timer-spread 0` puts them all at one instant) from 20 s (5 s quick) after scheduling
ends. That moment is planned ahead from the rate of far-future calibration timers written first;
`timer_due_margin_s` shows how it came out. Lag is `fired_at - due_at` from the timer table; `fired_at` is
the start of the sweep that fired the timer, so the outbox event's `occurred_at` (written by that sweep) and
its fan-out (`dispatched_at`) are printed too.

The exit status is non-zero only when the run breaks or a structural check fails (an event not delivered
exactly once to the no-op subscriber, a message lost or handled twice, a timer not fired exactly once).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import dramatiq
import redis.asyncio
from piccolo.querystring import QueryString

from appliance import cli
from appliance.auth.actor import system_actor
from appliance.core import db as core_db
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.db import open_database
from appliance.events.envelope import Envelope, Subject
from appliance.events.outbox import add_events
from appliance.events.subscribers import Subscriber, subscribe
from appliance.events.sweeper import GRACE
from appliance.events.timers import FIRED_EVENT, schedule_timer
from appliance.settings import load_settings
from appliance.worker.actors import task
from appliance.worker.broker import create_broker
from tests.bench.booking_engine import (
    POSTGRES_ADMIN_URL, EngineResult, Figure, Progress, at_least, at_most, count, create_database, drop_database,
    migrate, print_result, server_env,
)
from tests.bench.processes import Child, start_redis, wait_for_workers

ENGINE = "postgresql"

EVENT_TYPE = "bench.tick"
NOOP_SUBSCRIBER = "bench.noop"
BASELINE_ACTOR = "bench_noop"
BASELINE_QUEUE = "bench"
TIMER_NAME = "bench.due"
CALIBRATION_TIMER = "bench.calibration"
# Redis keys the worker processes count in (the broker's own keys live under "appliance:").
HANDLED_KEY = "bench:handled"
NOOP_KEY = "bench:noop"
NOOP_DONE_KEY = "bench:noop_done_at"

WORKERS = 2
EVENT_BATCHES = 10
TIMER_BATCH = 500
CALIBRATION_TIMERS = (50, 250)  # written first (untimed: statements warm up), then timed
SCHEDULE_SAFETY = 1.1  # the planned scheduling time over the calibrated one
POLL_S = 0.2
BASELINE_SENDERS = 8
SETTLE_S = 1.5  # after the last expected result: a duplicate would show up now

# Targets from the issue; PASS/MISS only, never a failure.
FANOUT_RATIO = 0.5  # fan-out events per second over bare Dramatiq no-ops per second
TIMER_LAG_P99_S = 60.0  # fired within a minute of the due time

# Every figure line a run prints, in order; the smoke test checks they are all there.
FIGURE_NAMES = (
    "dramatiq_noop_messages", "dramatiq_noop_send_s", "dramatiq_noop_s", "dramatiq_noop_per_s", "dramatiq_noop_cpu_ms",
    "fanout_events", "fanout_write_s", "fanout_s", "fanout_events_per_s", "fanout_ratio", "fanout_cpu_ms",
    "fanout_deliveries", "fanout_attempts", "fanout_handler_calls", "fanout_latency_median_s",
    "fanout_latency_p99_s", "fanout_events_overdue", "fanout_deliveries_overdue", "fanout_swept_events",
    "fanout_swept_deliveries",
    "timers_scheduled", "timer_schedule_per_s", "timer_due_margin_s", "timers_fired", "timer_events",
    "timer_lag_median_s", "timer_lag_p99_s", "timer_lag_max_s", "timer_event_lag_p99_s", "timer_dispatch_lag_p99_s",
    "run_s",
)
# Counts that must be above zero whatever the machine.
COUNT_FIGURES = (
    "dramatiq_noop_messages", "dramatiq_noop_per_s", "fanout_events", "fanout_events_per_s", "fanout_deliveries",
    "timers_scheduled", "timers_fired",
)


@dataclass(frozen=True)
class BenchConfig:
    events: int = 5_000
    timers: int = 10_000
    threads: int = 4  # per worker process
    timer_lead_s: float = 20.0  # from the end of scheduling to the first due time
    timer_spread_s: float = 60.0  # due times spread evenly over this; 0: all at one instant
    warmup: int = 50  # events and no-op messages before anything is measured
    phase_timeout_s: float = 300.0
    timer_wait_s: float = 120.0  # past the last due time
    start_timeout_s: float = 60.0


FULL = BenchConfig()
QUICK = BenchConfig(events=300, timers=500, timer_lead_s=5.0, timer_spread_s=10.0, warmup=20, timer_wait_s=60.0)


# --- Inside each worker process ----------------------------------------------------------------------

_counter: redis.asyncio.Redis | None = None


def _counters() -> redis.asyncio.Redis:
    """One client, made on the worker's event loop (every async actor runs on that one loop)."""
    global _counter
    if _counter is None:
        _counter = redis.asyncio.Redis.from_url(os.environ["APPLIANCE_REDIS_URL"])
    return _counter


def wants_tick(envelope: Envelope) -> bool:
    return envelope.type == EVENT_TYPE


async def handle_tick(envelope: Envelope) -> None:
    await _counters().incr(HANDLED_KEY)


async def baseline_noop(total: int) -> None:
    """The baseline: nothing but the count; whoever counts the last message notes the time."""
    if await _counters().incr(NOOP_KEY) == total:
        await _counters().set(NOOP_DONE_KEY, repr(time.time()))


def worker_main(threads: int) -> None:
    """What each worker process runs: the no-op subscriber and the baseline actor registered, then the
    `appliance worker` command as the CLI runs it (broker, worker threads, sweeper, SIGTERM)."""
    subscribe(Subscriber(NOOP_SUBSCRIBER, wants_tick, handle_tick))
    # The sweeper's "swept" lines tell how many messages it re-sent; everything else stays at warning.
    logging.getLogger("appliance.events.sweeper").setLevel(logging.INFO)
    task(BASELINE_ACTOR, queue=BASELINE_QUEUE)(baseline_noop)  # declared on the broker `appliance worker` makes
    cli.main(["worker", "--threads", str(threads)], standalone_mode=False)


# --- Processes -------------------------------------------------------------------------------------


async def wait_for_redis(child: Child, counters: redis.asyncio.Redis, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {child.process.returncode}:\n{child.tail()}")
        try:
            if await counters.ping():
                return
        except redis.ConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"redis-server did not answer within {timeout_s:.0f} s:\n{child.tail()}")


def start_worker(number: int, threads: int, env: dict[str, str], workdir: Path) -> Child:
    script = f"from tests.bench.events_pipeline import worker_main; worker_main({threads})"
    return Child(f"worker {number}", [sys.executable, "-c", script], env, workdir / f"worker-{number}.log")


# --- Measurements ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """Where the workers stood: CPU used and log written so far."""

    cpu_s: float
    offsets: tuple[int, ...]


def mark(workers: Sequence[Child]) -> Mark:
    return Mark(sum(w.cpu_s() for w in workers), tuple(w.log_size() for w in workers))


def cpu_since(workers: Sequence[Child], start: Mark) -> float:
    return sum(w.cpu_s() for w in workers) - start.cpu_s


def swept_since(workers: Sequence[Child], start: Mark) -> Counter[str]:
    return sum((w.swept_since(at) for w, at in zip(workers, start.offsets, strict=True)), Counter())


def p99(values: Sequence[float]) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else math.nan


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


async def _query(sql: str, *args: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await core_db.current_engine().run_querystring(QueryString(sql, *args))
    return rows


async def _counter_value(counters: redis.asyncio.Redis, key: str) -> int:
    return int(await counters.get(key) or 0)


@dataclass(frozen=True)
class Baseline:
    messages: int
    send_s: float
    seconds: float  # first send to the last message counted
    counted: int  # after settling: more than `messages` is a message handled twice
    cpu_s: float  # the workers', until the last message was counted


def _send_noops(actor: dramatiq.Actor[Any, Any], count: int, total: int) -> None:
    for _ in range(count):
        actor.send(total)


async def measure_baseline(
    actor: dramatiq.Actor[Any, Any], counters: redis.asyncio.Redis, messages: int, timeout_s: float,
    workers: Sequence[Child],
) -> Baseline:
    await counters.delete(NOOP_KEY, NOOP_DONE_KEY)
    shares = [messages // BASELINE_SENDERS + (n < messages % BASELINE_SENDERS) for n in range(BASELINE_SENDERS)]
    start = mark(workers)
    started = time.time()
    await asyncio.gather(*(asyncio.to_thread(_send_noops, actor, share, messages) for share in shares))
    send_s = time.time() - started
    deadline = time.monotonic() + timeout_s
    while await _counter_value(counters, NOOP_KEY) < messages and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S / 4)
    cpu_s = cpu_since(workers, start)
    await asyncio.sleep(SETTLE_S)
    # Read after settling: the worker that counts the last message notes the time just after its count.
    done_at = await counters.get(NOOP_DONE_KEY)
    counted = await _counter_value(counters, NOOP_KEY)
    seconds = float(done_at) - started if done_at is not None else math.nan
    return Baseline(messages, send_s, seconds, counted, cpu_s)


# While a phase runs, the benchmark's own polling costs the database next to nothing (Redis counters, then
# indexed counts); the rows are read once at the end and joined here, whatever the planner's statistics.
DONE_SQL = "SELECT count(*) AS n FROM delivery WHERE subscriber = {} AND status = 'done' AND created_at >= {}"
EVENTS_SQL = "SELECT id, occurred_at, dispatched_at FROM outbox_event WHERE type = {} AND occurred_at >= {}"
DELIVERIES_SQL = (
    "SELECT id, event, status, created_at, completed_at FROM delivery WHERE subscriber = {} AND created_at >= {}"
)
ATTEMPTS_SQL = "SELECT delivery FROM attempt WHERE started_at >= {}"
DISPATCHED_SQL = "SELECT count(dispatched_at) AS n FROM outbox_event WHERE type = {} AND occurred_at >= {}"
TIMERS_SQL = "SELECT id, status, due_at, fired_at FROM timer WHERE name = {}"
FIRED_EVENTS_SQL = """
SELECT data->>'timer_id' AS timer_id, occurred_at, dispatched_at FROM outbox_event
 WHERE type = {} AND occurred_at >= {} AND data->>'name' = {}
"""


async def _count(sql: str, *args: Any) -> int:
    return int((await _query(sql, *args))[0]["n"])


async def write_ticks(numbers: range, tag: str) -> None:
    """The events, in write transactions of one batch each, as a busy writer would add them."""
    actor = system_actor("bench")
    batch = max(1, math.ceil(len(numbers) / EVENT_BATCHES))
    for at in range(0, len(numbers), batch):
        async with write_transaction():
            await add_events(
                EVENT_TYPE, [(Subject("bench", f"{tag}{n}"), {"n": n}) for n in numbers[at:at + batch]], actor=actor
            )


async def wait_for_fanout(counters: redis.asyncio.Redis, since: datetime, events: int, timeout_s: float) -> int:
    """Until the no-op subscriber has run for every event and every delivery is recorded done; how many are."""
    deadline = time.monotonic() + timeout_s
    while await _counter_value(counters, HANDLED_KEY) < events and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S / 4)
    while (done := await _count(DONE_SQL, NOOP_SUBSCRIBER, since)) < events and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S / 4)
    return done


@dataclass(frozen=True)
class Delivered:
    """A phase's events with their no-op deliveries and those deliveries' attempts."""

    events: int
    deliveries: int
    delivered: int  # events with at least one delivery
    done: int
    attempts: int
    last_done: datetime | None
    latencies_s: list[float]  # per done delivery: its event written to it done
    events_overdue: int  # fanned out more than GRACE after written
    deliveries_overdue: int  # done more than GRACE after created


async def delivered_since(since: datetime) -> Delivered:
    events = {row["id"]: row for row in await _query(EVENTS_SQL, EVENT_TYPE, since)}
    deliveries = [row for row in await _query(DELIVERIES_SQL, NOOP_SUBSCRIBER, since) if row["event"] in events]
    attempts = Counter(row["delivery"] for row in await _query(ATTEMPTS_SQL, since))
    done = [row for row in deliveries if row["status"] == "done"]
    return Delivered(
        len(events), len(deliveries), len({row["event"] for row in deliveries}), len(done),
        sum(attempts[row["id"]] for row in deliveries), max((row["completed_at"] for row in done), default=None),
        [(row["completed_at"] - events[row["event"]]["occurred_at"]).total_seconds() for row in done],
        sum(1 for e in events.values() if e["dispatched_at"] and e["dispatched_at"] - e["occurred_at"] > GRACE),
        sum(1 for row in done if row["completed_at"] - row["created_at"] > GRACE),
    )


@dataclass(frozen=True)
class Fanout:
    events: int
    write_s: float
    seconds: float  # first write to the last delivery done
    delivered: Delivered  # after settling
    handler_calls: int
    cpu_s: float  # the workers', until the last delivery was done
    swept: Counter[str]  # messages the sweepers re-sent meanwhile


async def measure_fanout(
    counters: redis.asyncio.Redis, events: int, timeout_s: float, workers: Sequence[Child]
) -> Fanout:
    await counters.delete(HANDLED_KEY)
    start = mark(workers)
    started = utc_now()
    began = time.perf_counter()
    await write_ticks(range(events), "")
    write_s = time.perf_counter() - began
    await wait_for_fanout(counters, started, events, timeout_s)
    cpu_s = cpu_since(workers, start)
    await asyncio.sleep(SETTLE_S)
    delivered = await delivered_since(started)
    seconds = (delivered.last_done - started).total_seconds() if delivered.last_done else math.nan
    handler_calls = await _counter_value(counters, HANDLED_KEY)
    return Fanout(events, write_s, seconds, delivered, handler_calls, cpu_s, swept_since(workers, start))


@dataclass(frozen=True)
class TimerState:
    fired: int
    events: int  # timer.fired events of the bench timers
    timers: int  # distinct timers among them
    dispatched: int


@dataclass(frozen=True)
class Timers:
    scheduled: int
    schedule_s: float
    due_margin_s: float  # first due time minus the end of scheduling
    state: TimerState
    fired_lag_s: list[float]
    written_lag_s: list[float]
    dispatched_lag_s: list[float]


async def schedule_timers(config: BenchConfig, progress: Progress) -> tuple[datetime, datetime, float]:
    """The calibration timers, then the measured ones; (first due, last due, seconds the latter took)."""
    total = config.timers
    far = utc_now() + timedelta(days=1)
    for calibration in CALIBRATION_TIMERS:
        began = time.perf_counter()
        async with write_transaction():
            for n in range(calibration):
                await schedule_timer(CALIBRATION_TIMER, Subject("bench", f"c{calibration}.{n}"), far)
    planned_s = total * (time.perf_counter() - began) / calibration * SCHEDULE_SAFETY + 1.0
    first_due = utc_now() + timedelta(seconds=planned_s + config.timer_lead_s)
    progress(f"scheduling {total} timers (planned {planned_s:.1f} s), due from {first_due:%H:%M:%S} "
             f"over {config.timer_spread_s:g} s")
    began = time.perf_counter()
    for at in range(0, total, TIMER_BATCH):
        async with write_transaction():
            for n in range(at, min(total, at + TIMER_BATCH)):
                due_at = first_due + timedelta(seconds=config.timer_spread_s * n / total)
                await schedule_timer(TIMER_NAME, Subject("bench", str(n)), due_at)
    last_due = first_due + timedelta(seconds=config.timer_spread_s * (total - 1) / total)
    return first_due, last_due, time.perf_counter() - began


async def measure_timers(config: BenchConfig, progress: Progress) -> Timers:
    total = config.timers
    started = utc_now()
    first_due, last_due, schedule_s = await schedule_timers(config, progress)
    scheduled_at = utc_now()
    deadline = max(last_due, scheduled_at) + timedelta(seconds=config.timer_wait_s)
    progress(f"waiting for the sweepers to fire them (until {deadline:%H:%M:%S} at the latest)")
    while await _count(DISPATCHED_SQL, FIRED_EVENT, started) < total and utc_now() < deadline:
        await asyncio.sleep(POLL_S * 2)
    await asyncio.sleep(SETTLE_S)
    timers = {str(row["id"]): row for row in await _query(TIMERS_SQL, TIMER_NAME)}
    fired = [row for row in timers.values() if row["status"] == "fired"]
    events = await _query(FIRED_EVENTS_SQL, FIRED_EVENT, started, TIMER_NAME)
    due = {timer_id: row["due_at"] for timer_id, row in timers.items()}
    state = TimerState(
        len(fired), len(events), len({row["timer_id"] for row in events}),
        sum(1 for row in events if row["dispatched_at"] is not None),
    )
    return Timers(
        total, schedule_s, (first_due - scheduled_at).total_seconds(), state,
        [(row["fired_at"] - row["due_at"]).total_seconds() for row in fired],
        [(row["occurred_at"] - due[row["timer_id"]]).total_seconds() for row in events if row["timer_id"] in due],
        [
            (row["dispatched_at"] - due[row["timer_id"]]).total_seconds() for row in events
            if row["timer_id"] in due and row["dispatched_at"] is not None
        ],
    )


async def warm_up(
    actor: dramatiq.Actor[Any, Any], counters: redis.asyncio.Redis, config: BenchConfig, workers: Sequence[Child]
) -> None:
    """Connections, pools and code paths of both workers used once before any clock runs."""
    baseline = await measure_baseline(actor, counters, config.warmup, config.phase_timeout_s, workers)
    if baseline.counted != config.warmup:
        raise RuntimeError(f"warm-up: {baseline.counted} of {config.warmup} no-op messages handled")
    await counters.delete(HANDLED_KEY)
    since = utc_now()
    await write_ticks(range(config.warmup), "w")
    if (done := await wait_for_fanout(counters, since, config.warmup, config.phase_timeout_s)) != config.warmup:
        raise RuntimeError(f"warm-up: {done} of {config.warmup} events delivered")


# --- The run ---------------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.inf


def figures(baseline: Baseline, fanout: Fanout, timers: Timers) -> list[Figure]:
    noop_rate = _ratio(baseline.messages, baseline.seconds)
    fanout_rate = _ratio(fanout.events, fanout.seconds)
    delivered, fired = fanout.delivered, timers.state
    return [
        count("dramatiq_noop_messages", baseline.counted),
        Figure("dramatiq_noop_send_s", baseline.send_s, 2, note="sending alone, for attribution"),
        Figure("dramatiq_noop_s", baseline.seconds, 2),
        Figure("dramatiq_noop_per_s", noop_rate, 0, note="baseline: async no-op actor, same broker and workers"),
        Figure("dramatiq_noop_cpu_ms", 1000 * baseline.cpu_s / baseline.messages, 2,
               note="worker CPU per message, for attribution"),
        count("fanout_events", delivered.events),
        Figure("fanout_write_s", fanout.write_s, 2, note="add_events and the hand-over alone, for attribution"),
        Figure("fanout_s", fanout.seconds, 2),
        Figure("fanout_events_per_s", fanout_rate, 0,
               note="a fan_out message per 20 events, tries finished together recorded in one statement"),
        at_least("fanout_ratio", _ratio(fanout_rate, noop_rate), FANOUT_RATIO, 3),
        Figure("fanout_cpu_ms", 1000 * fanout.cpu_s / fanout.events, 2, note="worker CPU per event, likewise"),
        Figure("fanout_deliveries", delivered.deliveries, 0, target=f"={fanout.events}",
               ok=delivered.deliveries == delivered.delivered == delivered.done == fanout.events),
        Figure("fanout_attempts", delivered.attempts, 0, note="attempt rows of those deliveries"),
        Figure("fanout_handler_calls", fanout.handler_calls, 0, target=f"={fanout.events}",
               ok=fanout.handler_calls == fanout.events),
        Figure("fanout_latency_median_s", _median(delivered.latencies_s), 2, note="per event, written to done"),
        Figure("fanout_latency_p99_s", p99(delivered.latencies_s), 2),
        Figure("fanout_events_overdue", delivered.events_overdue, 0,
               note=f"fanned out over {GRACE.total_seconds():g} s after written: the sweeper re-sends those"),
        Figure("fanout_deliveries_overdue", delivered.deliveries_overdue, 0, note="likewise for deliveries"),
        Figure("fanout_swept_events", fanout.swept["events"], 0,
               note="fan_out messages the sweepers sent meanwhile, each a duplicate or a lost hand-over"),
        Figure("fanout_swept_deliveries", fanout.swept["deliveries"], 0, note="likewise deliver messages"),
        count("timers_scheduled", timers.scheduled),
        Figure("timer_schedule_per_s", _ratio(timers.scheduled, timers.schedule_s), 0),
        Figure("timer_due_margin_s", timers.due_margin_s, 1, note="from the end of scheduling to the first due time"),
        Figure("timers_fired", fired.fired, 0, target=f"={timers.scheduled}", ok=fired.fired == timers.scheduled),
        Figure("timer_events", fired.events, 0, target=f"={timers.scheduled}",
               ok=fired.events == fired.timers == fired.dispatched == timers.scheduled,
               note=f"{FIRED_EVENT} events, {fired.dispatched} fanned out"),
        Figure("timer_lag_median_s", _median(timers.fired_lag_s), 2, note="fired_at - due_at"),
        at_most("timer_lag_p99_s", p99(timers.fired_lag_s), TIMER_LAG_P99_S, 2),
        Figure("timer_lag_max_s", max(timers.fired_lag_s, default=math.nan), 2),
        Figure("timer_event_lag_p99_s", p99(timers.written_lag_s), 2,
               note="the event's occurred_at - due_at: fired_at is when the firing sweep began"),
        Figure("timer_dispatch_lag_p99_s", p99(timers.dispatched_lag_s), 2, note="fanned out - due_at"),
    ]


def problems_of(baseline: Baseline, fanout: Fanout, timers: Timers) -> list[str]:
    problems = []
    if baseline.counted != baseline.messages:
        problems.append(f"{baseline.counted} no-op messages handled for {baseline.messages} sent")
    found = fanout.delivered
    if not found.events == found.deliveries == found.delivered == found.done == fanout.events:
        problems.append(
            f"{fanout.events} events written, {found.events} found; {found.deliveries} {NOOP_SUBSCRIBER} deliveries"
            f" of {found.delivered} events, {found.done} done: not exactly one done delivery per event"
        )
    if fanout.handler_calls != fanout.events:
        problems.append(f"the no-op subscriber ran {fanout.handler_calls} times for {fanout.events} events")
    if found.attempts != found.deliveries:
        problems.append(f"{found.attempts} attempts recorded for {found.deliveries} deliveries")
    fired = timers.state
    if fired.fired != timers.scheduled:
        problems.append(f"{fired.fired} of {timers.scheduled} timers fired")
    if not fired.events == fired.timers == timers.scheduled:
        problems.append(f"{fired.events} {FIRED_EVENT} events for {fired.timers} timers, {timers.scheduled} expected")
    if fired.dispatched != fired.events:
        problems.append(f"{fired.events - fired.dispatched} {FIRED_EVENT} events not fanned out")
    return problems


def _machine() -> str:
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"


async def run_bench(config: BenchConfig, log: TextIO, *, keep: bool = False) -> EngineResult:
    """Everything for one run; no process it starts outlives it, nor (unless `keep`) the temporary directory
    with the logs and the database."""
    progress = Progress(ENGINE, log)
    started = time.perf_counter()
    result = EngineResult(ENGINE, machine=f"{_machine()} at start")
    workdir = Path(tempfile.mkdtemp(prefix="appliance-bench-events-"))
    pg_name = f"appliance_bench_events_{uuid.uuid4().hex[:10]}"
    redis_server: Child | None = None
    workers: list[Child] = []
    counters: redis.asyncio.Redis | None = None
    broker: dramatiq.Broker | None = None
    pg_created = pool_open = False
    try:
        await create_database(pg_name)
        pg_created = True
        database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
        redis_server, redis_url = start_redis(workdir)
        counters = redis.asyncio.Redis.from_url(redis_url)
        await wait_for_redis(redis_server, counters, config.start_timeout_s)
        env = {
            **server_env(workdir / "var", database_url), "APPLIANCE_REDIS_URL": redis_url,
            "APPLIANCE_LOG_LEVEL": "warning", "APPLIANCE_WORKER_SWEEP_SECONDS": "1",
        }
        progress("migrating")
        await asyncio.to_thread(migrate, env)
        settings = load_settings({
            "APPLIANCE_DATABASE_URL": database_url, "APPLIANCE_DATA_DIR": str(workdir / "var"),
            "APPLIANCE_REDIS_URL": redis_url, "APPLIANCE_LOG_LEVEL": "warning",
        })
        open_database(settings)
        await core_db.start_pool()
        pool_open = True
        broker = create_broker(settings)  # this process sends: the after-commit hand-over goes to Redis
        actor: dramatiq.Actor[Any, Any] = dramatiq.Actor(
            baseline_noop, broker=broker, actor_name=BASELINE_ACTOR, queue_name=BASELINE_QUEUE, priority=0,
            options={"max_retries": 0},
        )
        progress(f"starting {WORKERS} worker processes with {config.threads} threads each")
        workers = [start_worker(n + 1, config.threads, env, workdir) for n in range(WORKERS)]
        await wait_for_workers(workers, config.start_timeout_s)
        progress(f"warming up with {config.warmup} no-op messages and {config.warmup} events")
        await warm_up(actor, counters, config, workers)
        progress(f"baseline: {config.events} no-op messages")
        baseline = await measure_baseline(actor, counters, config.events, config.phase_timeout_s, workers)
        progress(f"fan-out: {config.events} events")
        fanout = await measure_fanout(counters, config.events, config.phase_timeout_s, workers)
        timers = await measure_timers(config, progress)
        result.figures += figures(baseline, fanout, timers)
        result.problems += problems_of(baseline, fanout, timers)
        for worker in workers:
            if worker.process.poll() is not None:
                result.problems.append(f"{worker.name} exited with {worker.process.returncode} during the run")
        result.figures.append(Figure("run_s", time.perf_counter() - started, 1))
        result.machine += f", {os.getloadavg()[0]:.2f} at the end"
        if result.problems:
            for worker in workers:
                for line in worker.error_lines():
                    progress(f"{worker.name} error: {line}")
        return result
    finally:
        await _clean_up(
            workers, broker, counters, redis_server, pg_name if pg_created else None, pool_open, workdir, progress,
            keep=keep,
        )


async def _clean_up(
    workers: Sequence[Child], broker: dramatiq.Broker | None, counters: redis.asyncio.Redis | None,
    redis_server: Child | None, pg_name: str | None, pool_open: bool, workdir: Path, progress: Progress, *,
    keep: bool,
) -> None:
    """Each step whatever became of the one before: workers, then Redis, then the database."""
    steps: list[tuple[str, Any]] = []
    for worker in workers:
        worker.terminate()  # all at once: they stop in parallel
    steps += [(worker.name, worker.stop) for worker in workers]
    if broker is not None:
        steps.append(("broker", broker.close))
    if counters is not None:
        steps.append(("redis client", counters.aclose))
    if redis_server is not None:
        steps.append(("redis-server", redis_server.stop))
    if pool_open:
        steps.append(("database pool", core_db.close_pool))
    if pg_name is not None and not keep:
        steps.append((f"database {pg_name}", lambda: drop_database(pg_name)))
    for what, step in steps:
        try:
            outcome = step()
            if asyncio.iscoroutine(outcome):
                await outcome
        except Exception as exc:  # noqa: BLE001 - the next step must still run
            progress(f"cleaning up {what} failed: {type(exc).__name__}: {exc}")
    for worker in workers:
        if worker.process.returncode not in (0, -signal.SIGTERM, None):
            progress(f"{worker.name} exited with {worker.process.returncode}:\n{worker.tail()}")
    if keep:
        progress(f"kept {workdir} and database {pg_name}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def report(result: EngineResult, config: BenchConfig, out: TextIO) -> None:
    spread = f"over {config.timer_spread_s:g} s" if config.timer_spread_s else "at one instant"
    heading = (f"{config.events} events, {config.timers} timers due {spread}, {WORKERS} worker processes "
               f"with {config.threads} threads each")
    print_result(result, heading, out, COUNT_FIGURES)


def run(config: BenchConfig, *, out: TextIO = sys.stdout, log: TextIO = sys.stderr, keep: bool = False) -> EngineResult:
    """Run the benchmark and print its figures; returns them for callers such as the smoke test. A run that
    breaks is reported as a structural failure."""
    try:
        result = asyncio.run(run_bench(config, log, keep=keep))
    except Exception as exc:
        traceback.print_exc(file=log)
        result = EngineResult(ENGINE, problems=[f"the run broke: {type(exc).__name__}: {exc}"], machine=_machine())
    report(result, config, out)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.events_pipeline", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=None, help="events and no-op messages (default 5000; 300 quick)")
    parser.add_argument("--timers", type=int, default=None, help="timers (default 10000; 500 with --quick)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker process (default 4)")
    parser.add_argument(
        "--timer-spread", type=float, default=None, help="seconds the due times spread over (default 60; 10 quick)"
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs for inspection")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    for name in ("events", "timers", "threads"):
        if (value := getattr(args, name)) is not None:
            if value < 1:
                parser.error(f"--{name} must be at least 1")
            config = replace(config, **{name: value})
    if args.timer_spread is not None:
        if args.timer_spread < 0:
            parser.error("--timer-spread must not be negative")
        config = replace(config, timer_spread_s=args.timer_spread)
    if shutil.which("redis-server") is None:
        parser.error("redis-server is not on PATH")
    # A terminated run cleans up as an interrupted one does: processes stopped, database dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.perf_counter()
    try:
        result = run(config, keep=args.keep)
    except KeyboardInterrupt:
        print("interrupted: workers and redis-server stopped, temporary files and database removed", file=sys.stderr)
        return 130
    print(f"\ntotal_s={time.perf_counter() - started:.1f}")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
