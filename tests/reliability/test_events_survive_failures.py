"""Nothing accepted is lost: real `appliance serve` and `appliance worker` processes, a Redis of their
own that the test stops, a worker and a server killed mid-work, and a real SMTP server. Two rules act
on every web booking: one approves it, one emails the customer a confirmation. Each booking must end up
approved exactly once, and each customer must receive exactly one confirmation."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.actions import create_api_token
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Permission, Role
from appliance.auth.schemas import TokenCreate
from appliance.automation.actions import create_rule
from appliance.automation.schemas import RuleCreate
from appliance.automation.tables import RuleRun
from appliance.bookings.tables import Booking
from appliance.core import db as core_db
from appliance.db import open_database
from appliance.testing.builders import make_branch, make_resource, make_service, make_user
from tests.conftest import make_settings
from tests.smtp_server import Inbox, MailServer

APPLIANCE = str(Path(sys.executable).parent / "appliance")
SHANGHAI = ZoneInfo("Asia/Shanghai")
WAIT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A child process with its output in a file, stopped however the test needs."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("a")
        self.process = subprocess.Popen(args, env=env, stdout=self.handle, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@dataclass
class Site:
    env: dict[str, str]
    base: str
    token: str
    service_id: UUID
    day: datetime
    logs: Path

    def serve(self) -> Process:
        port = self.base.rsplit(":", 1)[1]
        server = Process([APPLIANCE, "serve", "--port", port], self.env, self.logs / "serve.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                time.sleep(0.2)
        server.stop()
        pytest.fail(f"appliance serve did not start:\n{server.tail()}")

    def book(self, n: int) -> UUID:
        starts_at = self.day + timedelta(minutes=30 * n)
        response = httpx.post(
            f"{self.base}/api/v1/bookings", timeout=30, headers={"Authorization": f"Bearer {self.token}"},
            json={"service_id": str(self.service_id), "starts_at": starts_at.isoformat(), "channel": "web",
                  "customer": {"name": f"客户{n}", "phone": f"+86138{n:08d}", "email": email_of(n)}},
        )
        assert response.status_code == 201, response.text
        return UUID(response.json()["booking"]["id"])


def email_of(n: int) -> str:
    return f"customer{n}@example.com"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _seed(settings: Any) -> tuple[str, UUID]:
    """A branch open every day with enough staff for every test booking, a service that needs approval,
    the rule that approves web bookings, and an owner's API token."""
    open_database(settings)
    await core_db.start_pool()
    try:
        branch = await make_branch()
        for n in range(3):
            await make_resource(branch.id, name=f"技师{n}")
        service = await make_service(branch.id, requires_approval=True, duration_minutes=30)
        await create_rule(RuleCreate(
            name="网上预约自动审批", trigger={"event": "booking.created"},
            conditions={"all": [{"field": "booking.channel", "op": "eq", "value": "web"}]},
            actions=[{"type": "auto_approve"}],
        ), actor=cli_actor())
        await create_rule(RuleCreate(
            name="预约确认邮件", trigger={"event": "booking.created"},
            actions=[{"type": "notify", "channel": "email", "template": "booking_confirmation", "recipient": "customer"}],
        ), actor=cli_actor())
        owner = await make_user("owner", Role.owner)
        token = await create_api_token(
            TokenCreate(name="test", scopes=[Permission.bookings_write, Permission.bookings_read]),
            actor=cli_actor(), owner_id=owner.id,
        )
        return token.token, service.id
    finally:
        await core_db.close_pool()


async def _outcome(settings: Any, ids: list[UUID]) -> tuple[dict[UUID, str], int, int]:
    """Each booking's status, rule runs and approvals recorded for them."""
    open_database(settings)
    await core_db.start_pool()
    try:
        rows = await Booking.select(Booking.id, Booking.status).where(Booking.id.is_in(ids))
        runs = await RuleRun.count().where(RuleRun.booking.is_in(ids))
        approvals = await AuditEntry.count().where(
            (AuditEntry.action == "booking.approved") & AuditEntry.target_id.is_in([str(i) for i in ids])
        )
        return {r["id"]: r["status"] for r in rows}, runs, approvals
    finally:
        await core_db.close_pool()


def wait_until_done(site_settings: Any, ids: list[UUID], inbox: Inbox, *processes: Process) -> tuple[int, int, int]:
    """Until every booking is approved and every customer emailed; then (rule runs, approvals, emails),
    counted once more after a pause in which a duplicate would show up."""
    emails = [email_of(n) for n in range(len(ids))]

    def counts() -> tuple[dict[UUID, str], int, int, int]:
        statuses, runs, approvals = run(_outcome(site_settings, ids))
        return statuses, runs, approvals, sum(inbox.distinct_to(address) for address in emails)

    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        statuses, runs, approvals, sent = counts()
        if all(statuses.get(i) == "confirmed" for i in ids) and all(inbox.to(a) for a in emails):
            time.sleep(1.5)
            return counts()[1:]
        time.sleep(0.5)
    logs = "\n---\n".join(p.tail() for p in processes)
    pytest.fail(f"not all done within {WAIT_S:.0f} s: {statuses}, {sent} emails\n{logs}")


def make_site(tmp_path: Path, database_url: str, mail: MailServer, **env: str) -> tuple[Site, Any]:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    site_env = {
        **base_env, "APPLIANCE_DATA_DIR": str(tmp_path / "var"), "APPLIANCE_DATABASE_URL": database_url,
        "APPLIANCE_LOG_LEVEL": "info", "APPLIANCE_WORKER_SWEEP_SECONDS": "1", "APPLIANCE_SMTP_HOST": "127.0.0.1",
        "APPLIANCE_SMTP_PORT": str(mail.port), "APPLIANCE_SMTP_TLS": "none", "APPLIANCE_SMTP_FROM": "noreply@shop.example",
        **env,
    }
    migrated = subprocess.run([APPLIANCE, "migrate"], env=site_env, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    settings = make_settings(database_url, tmp_path / "var")
    token, service_id = run(_seed(settings))
    today = datetime.now(SHANGHAI).date() + timedelta(days=3)
    day = datetime(today.year, today.month, today.day, 9, 0, tzinfo=SHANGHAI)
    site = Site(site_env, f"http://127.0.0.1:{free_port()}", token, service_id, day, tmp_path)
    return site, settings


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[int, list[Process]]]:
    """A Redis of this test's own on a free port (the shared one must not be stopped)."""
    port = free_port()
    started: list[Process] = []
    yield port, started
    for process in started:
        process.stop()


def start_redis(port: int, tmp_path: Path) -> Process:
    redis = Process(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        dict(os.environ), tmp_path / "redis.log",
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ping = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
        if ping.stdout.strip() == "PONG":
            return redis
        time.sleep(0.1)
    pytest.fail("redis-server did not start")


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_bookings_made_while_redis_is_down_are_all_handled_once_it_is_back(
    fresh_database_url: str, tmp_path: Path, own_redis: tuple[int, list[Process]], mail: MailServer
) -> None:
    port, started = own_redis
    redis = start_redis(port, tmp_path)
    started.append(redis)
    site, settings = make_site(tmp_path, fresh_database_url, mail, APPLIANCE_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    server = site.serve()
    worker = Process([APPLIANCE, "worker", "--threads", "2"], site.env, tmp_path / "worker.log")
    try:
        booked = [site.book(0)]
        assert wait_until_done(settings, booked, mail.inbox, server, worker) == (2, 1, 1)  # two rules ran

        redis.kill()
        booked += [site.book(n) for n in range(1, 6)]  # accepted while Redis is down
        assert run(_outcome(settings, booked[1:]))[0] == {i: "pending_approval" for i in booked[1:]}
        assert "hand_over_failed" in server.log.read_text()  # the hand-over to Redis did fail: the sweeper's turn
        redis = start_redis(port, tmp_path)
        started.append(redis)

        runs, approvals, emails = wait_until_done(settings, booked, mail.inbox, server, worker)
    finally:
        worker.stop()
        server.stop()
    assert (runs, approvals, emails) == (2 * len(booked), len(booked), len(booked))


def test_embedded_a_server_killed_after_a_commit_still_acts_on_it_after_restart(tmp_path: Path, mail: MailServer) -> None:
    site, settings = make_site(tmp_path, f"sqlite:///{tmp_path / 'var' / 'appliance.db'}", mail)
    server = site.serve()
    try:
        booked = [site.book(0)]
        server.kill()  # at once: its in-memory queue and anything not yet handled are gone
        server = site.serve()
        runs, approvals, emails = wait_until_done(settings, booked, mail.inbox, server)
    finally:
        server.stop()
    assert (runs, approvals, emails) == (2, 1, 1)


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_a_worker_killed_in_the_middle_of_its_work_leaves_nothing_undone_or_done_twice(
    fresh_database_url: str, tmp_path: Path, own_redis: tuple[int, list[Process]], mail: MailServer
) -> None:
    port, started = own_redis
    started.append(start_redis(port, tmp_path))
    site, settings = make_site(tmp_path, fresh_database_url, mail, APPLIANCE_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    server = site.serve()
    first = Process([APPLIANCE, "worker", "--threads", "2"], site.env, tmp_path / "worker-1.log")
    second: Process | None = None
    try:
        booked = [site.book(0)]
        deadline = time.monotonic() + WAIT_S
        while run(_outcome(settings, booked))[0].get(booked[0]) != "confirmed":
            assert time.monotonic() < deadline, first.tail()
            time.sleep(0.2)
        booked += [site.book(n) for n in range(1, 13)]
        first.kill()  # SIGKILL amid the burst: claimed deliveries, unacknowledged messages
        statuses = run(_outcome(settings, booked))[0]
        assert any(status == "pending_approval" for status in statuses.values()), "the worker finished first"
        second = Process([APPLIANCE, "worker", "--threads", "2"], site.env, tmp_path / "worker-2.log")
        runs, approvals, emails = wait_until_done(settings, booked, mail.inbox, server, second)
    finally:
        for process in (second, first, server):
            if process is not None:
                process.stop()
    assert (runs, approvals, emails) == (2 * len(booked), len(booked), len(booked))
