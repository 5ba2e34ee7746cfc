"""`appliance demo` and the demo on first `appliance up`, as an operator runs them: real processes, a fresh
SQLite data directory each."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.appliance.test_cli import APPLIANCE, appliance, free_port, run_env


def branch_count(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "appliance.db") as conn:
        [(count,)] = conn.execute("SELECT COUNT(*) FROM branch").fetchall()
    return int(count)


def run_up_until_healthy(env: dict[str, str], *args: str) -> str:
    """Start `appliance up`, wait until it answers /healthz, stop it; everything it printed."""
    port = free_port()
    process = subprocess.Popen(
        [APPLIANCE, "up", "--port", str(port), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("appliance up did not answer /healthz within 60 s")
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    return output


def test_demo_seeds_once_then_refuses_without_reset_giving_a_one_line_reason(tmp_path: Path) -> None:
    env = run_env(tmp_path / "var")

    unmigrated = appliance("demo", env=env)
    appliance("migrate", env=env)
    seeded = appliance("demo", env=env)
    again = appliance("demo", env=env)

    assert unmigrated.returncode == 1 and "appliance migrate" in unmigrated.stderr
    assert seeded.returncode == 0, seeded.stderr
    summary = seeded.stdout.strip()
    assert "\n" not in summary  # one paragraph
    for part in ("2 branches", "13 staff", "15 services", "500 customers", "bookings (", "allocations", "Asia/Shanghai"):
        assert part in summary, part
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.strip().splitlines() == [
        "error: the database already has 2 branches; `appliance demo --reset` deletes every branch, service, "
        "customer and booking and seeds the demo again"
    ]
    assert branch_count(tmp_path / "var") == 2


def test_up_seeds_the_demo_on_first_start_only_and_never_with_no_demo(tmp_path: Path) -> None:
    env = run_env(tmp_path / "var")
    bare_env = run_env(tmp_path / "bare")

    first = run_up_until_healthy(env)
    later = run_up_until_healthy(env)
    bare = run_up_until_healthy(bare_env, "--no-demo")

    assert "seeding the demo business" in first and "Seeded the demo business" in first
    assert "seeding" not in later and "Seeded" not in later
    assert "seeding" not in bare and "Seeded" not in bare
    assert branch_count(tmp_path / "var") == 2
    assert branch_count(tmp_path / "bare") == 0
