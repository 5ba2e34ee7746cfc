"""Passwords are hashed with argon2id at the appliance's own cost, and old hashes are brought up to it."""

from __future__ import annotations

import subprocess
import sys

from argon2 import profiles

from appliance.auth import passwords
from appliance.auth.roles import Role
from appliance.auth.tables import User
from appliance.settings import Settings
from appliance.testing.builders import DEFAULT_PASSWORD, make_user
from tests.appliance.auth.test_lockout import LOGIN, client_with


def test_the_appliance_hashes_with_argon2id_at_the_rfc_9106_low_memory_cost() -> None:
    # In a process of its own: the suite hashes at the cheapest cost (tests/conftest.py).
    hashed = subprocess.run(
        [sys.executable, "-c", "from appliance.auth.passwords import hash_password; print(hash_password('a long password'))"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()
    low_memory = profiles.RFC_9106_LOW_MEMORY

    assert hashed.startswith(
        f"$argon2id$v=19$m={low_memory.memory_cost},t={low_memory.time_cost},p={low_memory.parallelism}$"
    ), hashed
    assert (low_memory.memory_cost, low_memory.time_cost, low_memory.parallelism) == (65536, 3, 4)
    assert passwords.PARAMETERS == low_memory


async def test_signing_in_rehashes_a_password_hashed_at_another_cost(settings: Settings, database: str) -> None:
    user = await make_user("alice", Role.front_desk)
    passwords.hash_with(passwords.PARAMETERS)
    try:
        appliance_cost = passwords.hash_password(DEFAULT_PASSWORD)
    finally:
        passwords.hash_with(profiles.CHEAPEST)
    await User.update({User.password_hash: appliance_cost}).where(User.id == user.id)

    async with client_with(settings) as client:
        first = await client.post(LOGIN, json={"username": "alice", "password": DEFAULT_PASSWORD})
        row = await User.select(User.password_hash).where(User.id == user.id).first()
        again = await client.post(LOGIN, json={"username": "alice", "password": DEFAULT_PASSWORD})

    assert row is not None
    stored = row["password_hash"]
    assert (first.status_code, again.status_code) == (200, 200)
    assert appliance_cost.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert stored != appliance_cost and stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert not passwords.needs_rehash(stored)
