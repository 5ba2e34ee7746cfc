"""On both engines, a real `appliance up` at debug level, a full booking scenario through its API — staff and portal
bookings, a bad request, reschedule, cancel, confirmation emails sent by its worker — and then its whole
log is searched for every personal value seeded: none may be there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.smtp_server import MailServer, free_port

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PEOPLE = [
    {"name": "韩梅梅", "phone": "+8613912345678", "email": "meimei.han@example.cn"},
    {"name": "Lei Li-Zhang", "phone": "+8613887654321", "email": "lei.lizhang@example.com"},
    {"name": "欧阳娜娜", "phone": "+8613700011122", "email": "nana.ouyang@example.org"},
]
NOTES = "过敏：花生"


def appliance(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def secrets_of(person: dict[str, str]) -> list[str]:
    """Every form a person's data could leak in: as given, the national phone number, the email's local part."""
    national = person["phone"].removeprefix("+86")
    return [person["name"], person["phone"], national, national[-8:], person["email"], person["email"].split("@")[0]]


def wait_until_up(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"appliance up exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("appliance up did not answer /healthz within 90 s")


def test_a_full_booking_scenario_leaves_no_personal_data_in_the_logs(fresh_database_url: str, tmp_path: Path) -> None:
    mail = MailServer()
    mail.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")} | {
        "APPLIANCE_DATA_DIR": str(tmp_path / "var"), "APPLIANCE_LOG_LEVEL": "debug",
        "APPLIANCE_DATABASE_URL": fresh_database_url,
        "APPLIANCE_SMTP_HOST": "127.0.0.1", "APPLIANCE_SMTP_PORT": str(mail.port),
        "APPLIANCE_SMTP_FROM": "bookings@example.net", "APPLIANCE_SMTP_TLS": "none",
    }
    log_path = tmp_path / "appliance.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "up", "--no-demo", "--port", str(port)], env=env,
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, process)
        token = appliance("token", "create", "--username", "owner", "--name", "scenario", env=env)
        assert token.returncode == 0, token.stderr
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token.stdout.strip()}"}, timeout=30) as api:
            run_scenario(api)
        deadline = time.monotonic() + 60
        while not all(mail.inbox.to(p["email"]) for p in PEOPLE[:2]) and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=30)
        mail.stop()

    assert all(mail.inbox.to(p["email"]) for p in PEOPLE[:2]), "the worker sent the confirmations"
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "/api/v1/bookings" in text and len(text.splitlines()) > 30  # the scenario was logged, at length
    leaked = sorted({value for person in PEOPLE for value in secrets_of(person) if value in text} | (
        {NOTES} if NOTES in text else set()
    ))
    assert leaked == [], [line for line in text.splitlines() if any(v in line for v in leaked)][:5]


def run_scenario(api: httpx.Client) -> None:
    branch = api.post("/api/v1/branches", json={"name": "静安店", "timezone": "Asia/Shanghai"}).json()
    hours = {day: [["09:00", "18:00"]] for day in WEEK}
    staff = api.post("/api/v1/resources", json={
        "branch_id": branch["id"], "kind": "staff", "name": "王芳", "skills": ["massage"], "capacity": 2,
    })
    assert staff.status_code == 201, staff.text
    schedule = api.put(f"/api/v1/resources/{staff.json()['id']}/schedule", json={"weekly": hours})
    assert schedule.status_code == 200, schedule.text
    service = api.post("/api/v1/services", json={
        "branch_id": branch["id"], "name": "精油按摩", "duration_minutes": 60,
        "requirements": [{"kind": "staff", "skills": ["massage"], "count": 1}],
    })
    assert service.status_code == 201, service.text
    day = datetime.now(SHANGHAI).date() + timedelta(days=7)
    at = [datetime(day.year, day.month, day.day, 10 + n, 0, tzinfo=SHANGHAI).isoformat() for n in range(4)]
    first = api.post("/api/v1/bookings", json={
        "service_id": service.json()["id"], "starts_at": at[0], "customer": PEOPLE[0], "notes": NOTES,
    })
    assert first.status_code == 201, first.text
    portal = api.post("/api/v1/portal/bookings", json={
        "service_id": service.json()["id"], "starts_at": at[1], "customer": PEOPLE[1],
    })
    assert portal.status_code == 201, portal.text
    bad = api.post("/api/v1/bookings", json={
        "service_id": service.json()["id"], "starts_at": at[2],
        "customer": {**PEOPLE[2], "email": PEOPLE[2]["email"].replace("@", " at ")},
    })
    assert bad.status_code == 422
    booking_id = first.json()["booking"]["id"]
    assert api.post(f"/api/v1/bookings/{booking_id}/reschedule", json={"starts_at": at[3]}).status_code == 200
    assert api.get("/api/v1/bookings", params={"customer_id": first.json()["booking"]["customer_id"]}).status_code == 200
    manage = portal.json()["manage_token"]
    assert api.post(f"/api/v1/portal/bookings/{manage}/cancel").status_code == 200
    assert re.fullmatch(r"[\w-]+", manage)
