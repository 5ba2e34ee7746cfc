"""Builders that create data through actions (so audit, outbox and invariants hold) and sign in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import msgspec

from appliance.auth import actions as auth_actions
from appliance.auth import mfa, totp
from appliance.auth import schemas as auth_schemas
from appliance.auth.actor import Actor, cli_actor
from appliance.auth.roles import Role
from appliance.auth.tables import User
from appliance.bookings import actions as bookings_actions
from appliance.catalog import actions as catalog_actions
from appliance.catalog import schemas as catalog_schemas
from appliance.customers.schemas import CustomerContact
from appliance.forms import actions as forms_actions
from appliance.forms import schemas as forms_schemas

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


async def make_profile_form(
    fields: Sequence[Mapping[str, Any]] = (), *, texts: Iterable[str] = (), name: str = "客户档案",
    actor: Actor | None = None,
) -> forms_schemas.Form:
    """The customers' profile form through the actions: `fields` as FieldDef dicts, plus an optional
    text field for each key in `texts` (labelled with its key), e.g. make_profile_form(texts=["会员卡号"])."""
    plain = [{"key": key, "type": "text", "label": {"zh-CN": key, "en": key}} for key in texts]
    data = msgspec.convert({"target": "customers", "name": name, "fields": [*fields, *plain]}, forms_schemas.FormCreate)
    return await forms_actions.create_form(data, actor=actor or cli_actor())


async def make_user(
    username: str,
    role: Role = Role.owner,
    *,
    branch_id: UUID | None = None,
    password: str | None = DEFAULT_PASSWORD,
    actor: Actor | None = None,
) -> auth_schemas.User:
    """A local account; one whose role needs a second factor gets a TOTP set up (see `second_factor`)."""
    data = auth_schemas.UserCreate(
        username=username, password=password, grants=[auth_schemas.GrantBody(role, branch_id)]
    )
    user = await auth_actions.create_user(data, actor=actor or cli_actor())
    if password is not None and role in mfa.MFA_ROLES:
        await enrol_totp(user.id, username)
    return user


# The second factors of the accounts builders made, so sign_in can answer as the person's phone would.
TOTP_SECRETS: dict[str, str] = {}
RECOVERY_CODES: dict[str, list[str]] = {}


async def enrol_totp(user_id: UUID, username: str) -> str:
    """Set up and confirm a TOTP for the account, as the host's administrator; returns the secret."""
    enrolment = await mfa.start_totp_enrolment(user_id, None, actor=cli_actor())
    # Confirm with the previous step's code, leaving this step and the next for sign-ins. A step
    # boundary passing between making that code and checking it would push it out of the drift
    # window: start well clear of one.
    if totp.STEP_SECONDS - time.time() % totp.STEP_SECONDS < 2:
        await asyncio.sleep(2)
    code = totp.code_at(enrolment.secret, time.time() - totp.STEP_SECONDS)
    confirmed = await mfa.confirm_totp_enrolment(user_id, code, actor=cli_actor())
    TOTP_SECRETS[username], RECOVERY_CODES[username] = enrolment.secret, confirmed.recovery_codes
    return enrolment.secret


async def second_factor(username: str) -> dict[str, str]:
    """The login fields a person with this account's phone would add: a code of a step not used yet
    (this one or the next, the drift window), else one of the recovery codes. Empty without a TOTP."""
    secret = TOTP_SECRETS.get(username)
    row = await User.select(User.totp_last_step, User.totp_confirmed_at).where(User.username == username).first()
    if secret is None or row is None or row["totp_confirmed_at"] is None:
        return {}
    now = totp.step_at(time.time())
    step = max(now, row["totp_last_step"] + 1)
    if step <= now + totp.DRIFT_STEPS:
        return {"totp": totp.hotp(secret, step)}
    return {"recovery_code": RECOVERY_CODES[username].pop()}


async def sign_in(client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    """Log in through the API, with the second factor when the account has one; the client keeps the
    session cookie. Returns the /me body (with csrf_token)."""
    login = {"username": username, "password": password, **await second_factor(username)}
    response = await client.post("/api/v1/auth/login", json=login)
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
