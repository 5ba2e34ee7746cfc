"""The `appliance` command as an operator runs it: a real process against a real database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_TEST_URL

APPLIANCE = str(Path(sys.executable).parent / "appliance")


def run_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    return {**env, "APPLIANCE_DATA_DIR": str(data_dir), "APPLIANCE_LOG_LEVEL": "warning", **extra}


def appliance(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APPLIANCE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_refuses_to_start_with_pending_migrations_and_names_them(fresh_database_url: str, tmp_path: Path) -> None:
    from appliance.db.migrate import migration_ids

    env = run_env(tmp_path / "var", APPLIANCE_DATABASE_URL=fresh_database_url)

    result = appliance("serve", "--port", str(free_port()), env=env)

    assert result.returncode == 1
    assert "pending" in result.stderr
    for migration_id in migration_ids():
        assert migration_id in result.stderr


def test_invalid_settings_are_listed_together_and_exit_non_zero(tmp_path: Path) -> None:
    env = run_env(tmp_path / "var", APPLIANCE_HTTP_PORT="eighty", APPLIANCE_LOG_FORMAT="xml")

    result = appliance("migrate", env=env)

    assert result.returncode == 1
    assert "APPLIANCE_HTTP_PORT" in result.stderr and "APPLIANCE_LOG_FORMAT" in result.stderr


def test_migrate_then_user_and_token_commands(fresh_database_url: str, tmp_path: Path) -> None:
    env = run_env(tmp_path / "var", APPLIANCE_DATABASE_URL=fresh_database_url)

    migrated = appliance("migrate", env=env)
    again = appliance("migrate", env=env)
    created = appliance("user", "create", "--username", "li.lei", "--password", "a long enough password", "--role", "manager", env=env)
    duplicate = appliance("user", "create", "--username", "li.lei", "--password", "a long enough password", "--role", "staff", env=env)
    short = appliance("user", "create", "--username", "han.meimei", "--password", "short", "--role", "staff", env=env)
    token = appliance("token", "create", "--username", "li.lei", "--name", "erp", env=env)
    missing = appliance("token", "create", "--username", "nobody", env=env)

    assert migrated.returncode == 0 and "applied" in migrated.stdout
    assert again.returncode == 0 and "up to date" in again.stdout
    assert created.returncode == 0, created.stderr
    assert duplicate.returncode == 1 and "taken" in duplicate.stderr
    assert short.returncode == 1 and "password" in short.stderr
    assert token.returncode == 0, token.stderr
    assert re.fullmatch(r"apl_[A-Za-z0-9_-]{40,}", token.stdout.strip())
    assert missing.returncode == 1 and "nobody" in missing.stderr


def test_up_migrates_creates_the_first_owner_prints_its_login_and_serves(tmp_path: Path) -> None:
    port = free_port()
    env = run_env(tmp_path / "var")
    process = subprocess.Popen(
        [APPLIANCE, "up", "--no-demo", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = ""
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("appliance up did not answer /healthz within 60 s")
        ready = httpx.get(f"{base}/readyz", timeout=5)
        login_file = (tmp_path / "var" / "first-login.txt").read_text()
        password = re.search(r"password: (\S+)", login_file)
        assert password is not None
        with httpx.Client(base_url=base) as client:
            login = client.post("/api/v1/auth/login", json={"username": "owner", "password": password.group(1)})
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)

    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    assert login.status_code == 200
    assert login.json()["user"]["grants"] == [{"role": "owner", "branch_id": None}]
    assert f"password: {password.group(1)}" in output
    assert "Installed 5 default rules" in output
    assert oct((tmp_path / "var" / "first-login.txt").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "var" / "appliance.db").exists()


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_serve_runs_the_configured_number_of_server_processes_in_production_mode(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = run_env(
        tmp_path / "var", APPLIANCE_DATABASE_URL=fresh_database_url, APPLIANCE_REDIS_URL=REDIS_TEST_URL,
        APPLIANCE_HTTP_WORKERS="2",
    )
    assert appliance("migrate", env=env).returncode == 0
    port = free_port()
    process = subprocess.Popen([APPLIANCE, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline, answers = time.monotonic() + 60, []
        while time.monotonic() < deadline and len(answers) < 20:
            try:
                answers.append(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code)
            except httpx.TransportError:
                time.sleep(0.2)
        servers = [int(c) for t in Path(f"/proc/{process.pid}/task").iterdir() for c in (t / "children").read_text().split()]
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in servers]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)

    assert answers == [200] * 20, output
    # uvicorn supervises two server processes (spawned by multiprocessing; its resource tracker aside).
    assert len([c for c in commands if b"spawn_main" in c]) == 2, commands
    assert process.returncode == 0, output


def test_more_than_one_server_process_is_refused_in_embedded_mode(tmp_path: Path) -> None:
    result = appliance("serve", env=run_env(tmp_path / "var", APPLIANCE_HTTP_WORKERS="2"))

    assert result.returncode != 0
    assert "APPLIANCE_HTTP_WORKERS: more than one server process needs production mode" in result.stderr + result.stdout
