"""Per-username lockout after failed sign-ins, the same for usernames that do not exist."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from argon2 import profiles

from appliance.app import create_app
from appliance.audit.tables import AuditEntry
from appliance.auth import passwords
from appliance.auth.roles import Role
from appliance.settings import Settings
from appliance.testing.builders import DEFAULT_PASSWORD, make_user
from appliance.testing.lifespan import running
from tests.conftest import make_settings

LOGIN = "/api/v1/auth/login"
WRONG = "not the password at all"


@asynccontextmanager
async def client_with(settings: Settings, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    configured = make_settings(settings.database_url, settings.data.dir, APPLIANCE_AUTH_LOGIN_ATTEMPTS_PER_MINUTE="100", **env)
    async with running(create_app(configured)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            yield client


async def test_a_username_is_locked_after_failures_even_for_the_right_password(settings: Settings, database: str) -> None:
    await make_user("alice", Role.front_desk)
    await make_user("bob", Role.front_desk)
    async with client_with(settings, APPLIANCE_AUTH_LOCKOUT_ATTEMPTS="3") as client:
        failures = [await client.post(LOGIN, json={"username": "alice", "password": WRONG}) for _ in range(3)]

        locked = await client.post(LOGIN, json={"username": "alice", "password": DEFAULT_PASSWORD})
        other = await client.post(LOGIN, json={"username": "bob", "password": DEFAULT_PASSWORD})

    assert [r.json()["code"] for r in failures] == ["login_failed"] * 3
    assert locked.status_code == 429 and locked.json()["code"] == "account_locked"
    assert other.status_code == 200  # a lockout is per username, not for everybody
    assert await AuditEntry.count().where(AuditEntry.action == "auth.locked_out") == 1
    assert await AuditEntry.count().where(AuditEntry.reason == "locked_out") == 1


async def test_a_success_resets_the_count(settings: Settings, database: str) -> None:
    await make_user("alice", Role.front_desk)
    async with client_with(settings, APPLIANCE_AUTH_LOCKOUT_ATTEMPTS="3") as client:
        for _ in range(2):
            await client.post(LOGIN, json={"username": "alice", "password": WRONG})
        assert (await client.post(LOGIN, json={"username": "alice", "password": DEFAULT_PASSWORD})).status_code == 200
        for _ in range(2):
            await client.post(LOGIN, json={"username": "alice", "password": WRONG})

        again = await client.post(LOGIN, json={"username": "alice", "password": DEFAULT_PASSWORD})

    assert again.status_code == 200


@pytest.fixture
def appliance_hashing() -> Iterator[None]:
    """The appliance's own argon2 cost, not the suite's cheapest: the work compared must be real."""
    passwords.hash_with(passwords.PARAMETERS)
    yield
    passwords.hash_with(profiles.CHEAPEST)


async def test_unknown_usernames_answer_and_lock_the_same_and_cost_the_same_work(
    settings: Settings, database: str, appliance_hashing: None
) -> None:
    await make_user("alice", Role.front_desk)
    async with client_with(settings, APPLIANCE_AUTH_LOCKOUT_ATTEMPTS="3") as client:
        answers = {}
        seconds = {}
        for name in ("alice", "nobody"):
            started = time.perf_counter()
            failed = [await client.post(LOGIN, json={"username": name, "password": WRONG}) for _ in range(3)]
            seconds[name] = time.perf_counter() - started
            locked = await client.post(LOGIN, json={"username": name, "password": WRONG})
            answers[name] = [(r.status_code, r.json()["code"], r.json()["detail"]) for r in (*failed, locked)]

    assert answers["alice"] == answers["nobody"]
    assert answers["nobody"][-1][:2] == (429, "account_locked")
    # an unknown username still runs a password hash check (argon2id, ~100 ms), so it is not much faster
    assert seconds["nobody"] > 0.5 * seconds["alice"], seconds
