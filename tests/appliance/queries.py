"""Helpers for tests that act as a given user without going through HTTP."""

from __future__ import annotations

from uuid import UUID

from appliance.auth.actor import Actor
from appliance.auth.queries import grants_of
from appliance.auth.tables import User


async def actor_for_user(user_id: UUID) -> Actor:
    username = (await User.select(User.username).where(User.id == user_id).first())["username"]
    grants = (await grants_of([user_id]))[user_id]
    return Actor(kind="user", id=str(user_id), label=username, auth_method="password", user_id=user_id, grants=grants)
