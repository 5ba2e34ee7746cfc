"""Builders that create data through actions (so audit, outbox and invariants hold) and sign in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import msgspec

from appliance.auth import actions as auth_actions
from appliance.auth import schemas as auth_schemas
from appliance.auth.actor import Actor, cli_actor
from appliance.auth.roles import Role
from appliance.bookings import actions as bookings_actions
from appliance.catalog import actions as catalog_actions
from appliance.catalog import schemas as catalog_schemas
from appliance.customers.schemas import CustomerContact

DEFAULT_PASSWORD = "correct horse battery staple"


async def make_branch(name: str = "静安店", timezone: str = "Asia/Shanghai", *, actor: Actor | None = None) -> catalog_schemas.Branch:
    data = catalog_schemas.BranchCreate(name=name, timezone=timezone)
    return await catalog_actions.create_branch(data, actor=actor or cli_actor())


# Every day 09:00–18:00: make_resource's schedule unless told otherwise.
DEFAULT_SCHEDULE = catalog_schemas.Schedule(weekly={day: [("09:00", "18:00")] for day in catalog_schemas.WEEKDAYS})


async def make_resource(
    branch_id: UUID,
    kind: catalog_schemas.ResourceKind = "staff",
    name: str = "王芳",
    skills: Iterable[str] = ("massage",),
    capacity: int = 1,
    schedule: catalog_schemas.Schedule | None = None,
    post_use_lock_minutes: int = 0,
    *,
    user_id: UUID | None = None,
    actor: Actor | None = None,
) -> catalog_schemas.Resource:
    """An active resource with a schedule (default: Mon–Sun 09:00–18:00), made through the actions."""
    actor = actor or cli_actor()
    data = catalog_schemas.ResourceCreate(
        branch_id=branch_id, kind=kind, name=name, skills=list(skills), capacity=capacity, user_id=user_id,
        post_use_lock_minutes=post_use_lock_minutes,
    )
    resource = await catalog_actions.create_resource(data, actor=actor)
    await catalog_actions.set_resource_schedule(resource.id, schedule or DEFAULT_SCHEDULE, actor=actor)
    return resource


def requirement(kind: catalog_schemas.ResourceKind = "staff", *skills: str, count: int = 1) -> catalog_schemas.Requirement:
    """`requirement("room", "vip")`: one room with the skill vip."""
    return catalog_schemas.Requirement(kind=kind, skills=list(skills), count=count)


async def make_service(
    branch_id: UUID,
    name: str = "精油按摩",
    duration_minutes: int = 60,
    requirements: Sequence[catalog_schemas.Requirement | Mapping[str, Any]] = (
        catalog_schemas.Requirement(kind="staff", skills=["massage"]),
    ),
    *,
    actor: Actor | None = None,
    **overrides: Any,
) -> catalog_schemas.Service:
    """A service through the actions; `overrides` are any other ServiceCreate fields, e.g. seats=10,
    buffer_after_minutes=15, price=Money(amount=19800) (or {"amount": 19800, "currency": "CNY"}).
    Requirements may be Requirement structs (see `requirement()`) or plain {"kind", "skills", "count"} dicts.

    Its requirements are checked against the branch's active resources, so make those first
    (the default needs one staff member with the skill massage, which make_resource's defaults give).
    """
    fields = {
        "branch_id": branch_id, "name": name, "duration_minutes": duration_minutes,
        "requirements": [msgspec.to_builtins(r) for r in requirements], **overrides,
    }
    data = msgspec.convert(msgspec.to_builtins(fields), catalog_schemas.ServiceCreate)
    return await catalog_actions.create_service(data, actor=actor or cli_actor())


async def make_user(
    username: str,
    role: Role = Role.owner,
    *,
    branch_id: UUID | None = None,
    password: str | None = DEFAULT_PASSWORD,
    actor: Actor | None = None,
) -> auth_schemas.User:
    data = auth_schemas.UserCreate(
        username=username, password=password, grants=[auth_schemas.GrantBody(role, branch_id)]
    )
    return await auth_actions.create_user(data, actor=actor or cli_actor())


async def sign_in(client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    """Log in through the API; the client keeps the session cookie. Returns the /me body (with csrf_token)."""
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign_in_as(
    client: httpx.AsyncClient, username: str, role: Role = Role.owner, *, branch_id: UUID | None = None
) -> dict[str, Any]:
    """Make a user with `role` (in `branch_id`, or every branch), sign in, and send its CSRF token from now on."""
    await make_user(username, role, branch_id=branch_id)
    me = await sign_in(client, username)
    client.headers["X-CSRF-Token"] = me["csrf_token"]
    return me


async def make_booking(
    service_id: UUID, starts_at: datetime, *, name: str = "韩梅梅", phone: str = "+8613900000001",
    email: str | None = None, channel: str = "web", actor: Actor | None = None,
) -> UUID:
    """A booking through the actions, as front-desk staff would make it for a customer; its id."""
    created = await bookings_actions.create_booking(
        bookings_actions.NewBooking(
            service_id=service_id, starts_at=starts_at, channel=channel,
            customer=CustomerContact(name=name, phone=phone, email=email),
        ),
        actor=actor or cli_actor(), staff=True,
    )
    return created.booking.id
