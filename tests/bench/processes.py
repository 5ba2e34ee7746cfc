"""Child processes of the benchmarks (redis-server, `appliance worker`), each in a session of its own and
always stopped, and the loopback port they listen on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (Linux /proc; none elsewhere)."""
    try:
        children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    except (OSError, ValueError):
        return []
    return children + [d for c in children for d in descendants(c)]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of the processes it started (a server's worker processes)."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in descendants(pid))


def database_cpu_seconds(database: str | None = None) -> float:
    """CPU seconds of the PostgreSQL processes on this host; with `database`, only the backends connected
    to it and their parallel workers (other databases' work, e.g. another benchmark's, left out; a backend
    that exits takes its seconds with it, so keep connections pooled while measuring). nan where /proc is
    not readable."""
    used: dict[int, float] = {}
    titles: dict[int, str] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            titles[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not math.isnan(seconds := cpu_seconds(int(proc.name))):
            used[int(proc.name)] = seconds
    if database is not None:
        # A backend's title is "postgres: <cluster>: <user> <database> <client> <state>".
        ours = {pid for pid, title in titles.items() if f" {database} " in title}
        ours |= {pid for pid, title in titles.items() if any(f"parallel worker for PID {p}" in title for p in ours)}
        used = {pid: seconds for pid, seconds in used.items() if pid in ours}
    return sum(used.values()) if used else math.nan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """A child process in a session of its own (a Ctrl-C reaches only the benchmark, which stops it),
    its output in a file; always stopped by `stop()`."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.log_path = name, log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def swept_since(self, offset: int) -> Counter[str]:
        """What this worker's sweeper sent (events, deliveries) and fired (timers) since `offset` in its log."""
        swept: Counter[str] = Counter()
        with self.log_path.open("rb") as log:
            log.seek(offset)
            for line in log:
                if b'"swept"' in line:
                    with contextlib.suppress(ValueError):
                        record = json.loads(line)
                        swept.update({k: int(record.get(k, 0)) for k in ("events", "deliveries", "timers")})
        return swept

    def cpu_s(self) -> float:
        return cpu_seconds(self.process.pid)

    def error_lines(self, limit: int = 5) -> list[str]:
        return [
            line.strip()[:2000] for line in self.text().splitlines()
            if '"level":"error"' in line.replace(" ", "") or '"level":"critical"' in line.replace(" ", "")
        ][:limit]

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self, timeout_s: float = 30.0) -> None:
        try:
            self.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        finally:
            self._log.close()


def start_redis(workdir: Path) -> tuple[Child, str]:
    port = free_port()
    child = Child(
        "redis-server",
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        dict(os.environ), workdir / "redis.log",
    )
    return child, f"redis://127.0.0.1:{port}/0"


async def wait_for_workers(workers: Sequence[Child], timeout_s: float) -> None:
    """Until every worker's log says it runs (`appliance worker` prints it once its broker is up)."""
    deadline = time.monotonic() + timeout_s
    waiting = list(workers)
    while waiting:
        for worker in list(waiting):
            if worker.process.poll() is not None:
                raise RuntimeError(f"{worker.name} exited with {worker.process.returncode}:\n{worker.tail()}")
            if "worker running with" in worker.text():
                waiting.remove(worker)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{waiting[0].name} did not start within {timeout_s:.0f} s:\n{waiting[0].tail()}")
        await asyncio.sleep(0.1)


def appliance_worker(number: int, threads: int, env: dict[str, str], workdir: Path) -> Child:
    """The `appliance worker` command as IT runs it in production."""
    args = [sys.executable, "-m", "appliance", "worker", "--threads", str(threads)]
    return Child(f"worker {number}", args, env, workdir / f"worker-{number}.log")
