"""The only code that writes the catalog."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any
from uuid import UUID, uuid4

import msgspec
from piccolo.columns import Column

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.auth.tables import RoleGrant
from appliance.catalog import schemas
from appliance.catalog.logic import (
    opening_hours_problems,
    requirement_problems,
    schedule_problems,
    service_problems,
    time_zone_problem,
)
from appliance.catalog.queries import (
    active_resource_facts,
    branch_schema,
    get_branch,
    resource_schema,
    service_schema,
    time_off_schema,
)
from appliance.catalog.tables import Branch, Resource, Service, TimeOff
from appliance.core.clock import utc_now
from appliance.core.db import run_sql, write_transaction
from appliance.core.errors import Forbidden, Invalid, NotFound
from appliance.events.envelope import Subject


def _given(data: msgspec.Struct) -> dict[str, Any]:
    """The fields an update body actually sets."""
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


def _check_may_write_catalog(actor: Actor, branch_id: UUID, noun: str) -> None:
    """404 where the actor cannot even see the branch's catalog, 403 where it may only read it."""
    if not (actor.can(Permission.catalog_read, branch_id) or actor.can(Permission.catalog_write, branch_id)):
        raise NotFound(f"no such {noun}")
    if not actor.can(Permission.catalog_write, branch_id):
        raise Forbidden("you may not change the catalog of this branch")


async def _branch_exists(branch_id: UUID) -> bool:
    return bool(await Branch.exists().where(Branch.id == branch_id))


# --- Branches --------------------------------------------------------------------------------------

async def create_branch(data: schemas.BranchCreate, *, actor: Actor) -> schemas.Branch:
    # A new branch lies outside any branch-scoped grant, so only an all-branches grant may add one.
    if not actor.can(Permission.branches_write) or actor.branch_scope(Permission.branches_write) is not None:
        raise Forbidden("only an account with rights in every branch may add a branch")
    problems = opening_hours_problems(data.opening_hours)
    if problem := time_zone_problem(data.timezone):
        problems["timezone"] = problem
    if problems:
        raise Invalid(problems)
    now = utc_now()
    row = Branch(
        id=uuid4(), name=data.name, timezone=data.timezone, address=data.address,
        opening_hours=msgspec.to_builtins(data.opening_hours), created_at=now, updated_at=now,
    )
    async with write_transaction():
        await Branch.insert(row)
        branch = branch_schema(row.to_dict())
        await record_change(
            "branch.created", Subject("branch", str(row.id)), msgspec.to_builtins(branch), actor=actor,
            changed_fields=["name", "timezone", "address", "opening_hours"],
        )
    return branch


async def update_branch(branch_id: UUID, data: schemas.BranchUpdate, *, actor: Actor) -> schemas.Branch:
    if not actor.can(Permission.branches_write, branch_id):
        raise Forbidden("you may not change this branch")
    changes = _given(data)
    problems: dict[str, str] = {}
    if isinstance(tz := changes.get("timezone"), str) and (problem := time_zone_problem(tz)):
        problems["timezone"] = problem
    if data.opening_hours is not msgspec.UNSET:
        problems.update(opening_hours_problems(data.opening_hours))
    if problems:
        raise Invalid(problems)
    async with write_transaction():
        current = await get_branch(branch_id, actor=actor)
        changed = sorted(k for k, v in changes.items() if getattr(current, k) != v)
        if not changed:
            return current
        await Branch.update(
            {**{getattr(Branch, k): msgspec.to_builtins(changes[k]) for k in changed}, Branch.updated_at: utc_now()}
        ).where(Branch.id == branch_id)
        branch = await get_branch(branch_id, actor=actor)
        await record_change(
            "branch.updated", Subject("branch", str(branch_id)), msgspec.to_builtins(branch), actor=actor,
            changed_fields=changed,
        )
    return branch


# --- Resources -------------------------------------------------------------------------------------

async def _user_link_problem(kind: str, user_id: UUID | None, branch_id: UUID) -> str | None:
    """Why the resource cannot be linked to that user: only a staff resource is, and only to someone who
    works in its branch (a grant there, or in every branch). Its inbox notices name the branch's customers;
    an unknown user and one of another branch get the same answer, so ids cannot be probed."""
    if user_id is None:
        return None
    if kind != "staff":
        return "only a staff resource can be linked to a user"
    works_here = RoleGrant.exists().where(
        (RoleGrant.user == user_id) & (RoleGrant.branch.is_null() | (RoleGrant.branch == branch_id))
    )
    if not await works_here:
        return "no user with a role in this resource's branch"
    return None


async def _resource_row_for_write(resource_id: UUID, actor: Actor) -> dict[str, Any]:
    row: dict[str, Any] | None = await Resource.select().where(Resource.id == resource_id).output(load_json=True).first()
    if row is None:
        raise NotFound("no such resource")
    _check_may_write_catalog(actor, row["branch"], "resource")
    return row


async def _resource_for_write(resource_id: UUID, actor: Actor) -> schemas.Resource:
    return resource_schema(await _resource_row_for_write(resource_id, actor))


async def create_resource(data: schemas.ResourceCreate, *, actor: Actor) -> schemas.Resource:
    if not actor.can(Permission.catalog_write, data.branch_id):
        raise Forbidden("you may not change the catalog of this branch")
    now = utc_now()
    row = Resource(
        id=uuid4(), branch=data.branch_id, kind=data.kind, name=data.name, skills=list(dict.fromkeys(data.skills)),
        capacity=data.capacity, active=True, user=data.user_id, post_use_lock_minutes=data.post_use_lock_minutes,
        schedule={}, created_at=now, updated_at=now,
    )
    async with write_transaction():
        if not await _branch_exists(data.branch_id):
            raise Invalid({"branch_id": "no such branch"})
        if problem := await _user_link_problem(data.kind, data.user_id, data.branch_id):
            raise Invalid({"user_id": problem})
        await Resource.insert(row)
        resource = resource_schema(row.to_dict())
        await record_change(
            "resource.created", Subject("resource", str(resource.id)), msgspec.to_builtins(resource), actor=actor,
            changed_fields=["kind", "name", "skills", "capacity", "user_id", "post_use_lock_minutes"],
            details={"branch_id": str(resource.branch_id)},
        )
    return resource


_RESOURCE_COLUMNS: dict[str, Column] = {
    "name": Resource.name, "skills": Resource.skills, "capacity": Resource.capacity, "user_id": Resource.user,
    "post_use_lock_minutes": Resource.post_use_lock_minutes, "active": Resource.active,
}


async def _capacity_problem(resource_id: UUID, capacity: int) -> str | None:
    """Why the resource cannot shrink to `capacity`: a booking ahead holds a unit beyond it. Availability
    counts only the units a resource has, so that booking's time would be sold again."""
    rows = await run_sql(
        "SELECT MAX(unit) AS highest FROM allocation WHERE resource = {} AND active AND ends_at > {}",
        resource_id, utc_now(),
    )
    highest = rows[0]["highest"] if rows else None
    if highest is not None and highest >= capacity:
        return f"a booking ahead holds unit {highest + 1} of this resource; move it before reducing the capacity to {capacity}"
    return None


async def update_resource(resource_id: UUID, data: schemas.ResourceUpdate, *, actor: Actor) -> schemas.Resource:
    """Rename, re-skill, resize, relink or (de)activate a resource; only real changes are recorded."""
    changes = _given(data)
    if "skills" in changes:
        changes["skills"] = list(dict.fromkeys(changes["skills"]))
    async with write_transaction():
        current = await _resource_for_write(resource_id, actor)
        if "user_id" in changes and (
            problem := await _user_link_problem(current.kind, changes["user_id"], current.branch_id)
        ):
            raise Invalid({"user_id": problem})
        changed = sorted(k for k, v in changes.items() if getattr(current, k) != v)
        if not changed:
            return current
        if "capacity" in changed and (problem := await _capacity_problem(resource_id, changes["capacity"])):
            raise Invalid({"capacity": problem})
        resource = msgspec.structs.replace(current, **{k: changes[k] for k in changed}, updated_at=utc_now())
        await Resource.update(
            {**{_RESOURCE_COLUMNS[k]: changes[k] for k in changed}, Resource.updated_at: resource.updated_at}
        ).where(Resource.id == resource_id)
        await record_change(
            "resource.updated", Subject("resource", str(resource_id)), msgspec.to_builtins(resource), actor=actor,
            changed_fields=changed, details={"branch_id": str(resource.branch_id)},
        )
    return resource


async def set_resource_schedule(resource_id: UUID, schedule: schemas.Schedule, *, actor: Actor) -> schemas.Schedule:
    """Replace the resource's weekly hours, exceptions and blocks as a whole."""
    async with write_transaction():
        row = await _resource_row_for_write(resource_id, actor)
        if problems := schedule_problems(schedule):
            raise Invalid(problems)
        if msgspec.convert(row["schedule"] or {}, schemas.Schedule) == schedule:
            return schedule
        stored = msgspec.to_builtins(schedule)
        await Resource.update({Resource.schedule: stored, Resource.updated_at: utc_now()}).where(
            Resource.id == resource_id
        )
        await record_change(
            "resource.schedule_set", Subject("resource", str(resource_id)),
            {"resource_id": str(resource_id), "branch_id": str(row["branch"]), "schedule": stored}, actor=actor,
            changed_fields=["schedule"], details={"branch_id": str(row["branch"])},
        )
    return schedule


async def add_time_off(
    resource_id: UUID, data: schemas.TimeOffCreate, *, actor: Actor, booking_id: UUID | None = None,
    follow_window: Mapping[str, Any] | None = None,
) -> schemas.TimeOff:
    """Leave or maintenance: the resource is unavailable from `starts_at` until `ends_at`. A rule's block
    names the booking it follows and its window relative to that booking (automation.blocks)."""
    async with write_transaction():
        resource = await _resource_for_write(resource_id, actor)
        if data.starts_at >= data.ends_at:
            raise Invalid({"ends_at": "must be after starts_at"})
        row = TimeOff(
            id=uuid4(), resource=resource_id, starts_at=data.starts_at.astimezone(UTC),
            ends_at=data.ends_at.astimezone(UTC), reason=data.reason, created_at=utc_now(), booking=booking_id,
            follow_window=dict(follow_window) if follow_window is not None else None,
        )
        await TimeOff.insert(row)
        time_off = time_off_schema(row.to_dict())
        await record_change(
            "time_off.added", Subject("time_off", str(time_off.id)),
            {**msgspec.to_builtins(time_off), "branch_id": str(resource.branch_id)}, actor=actor,
            changed_fields=["starts_at", "ends_at", "reason"],
            details={"resource_id": str(resource_id), "branch_id": str(resource.branch_id)},
        )
    return time_off


async def remove_time_off(resource_id: UUID, time_off_id: UUID, *, actor: Actor) -> None:
    async with write_transaction():
        resource = await _resource_for_write(resource_id, actor)
        row = await TimeOff.select().where((TimeOff.id == time_off_id) & (TimeOff.resource == resource_id)).first()
        if row is None:
            raise NotFound("no such time off")
        time_off = time_off_schema(row)
        await TimeOff.delete().where(TimeOff.id == time_off_id)
        await record_change(
            "time_off.removed", Subject("time_off", str(time_off_id)),
            {**msgspec.to_builtins(time_off), "branch_id": str(resource.branch_id)}, actor=actor,
            changed_fields=["starts_at", "ends_at", "reason"],
            details={"resource_id": str(resource_id), "branch_id": str(resource.branch_id)},
        )


# --- Services --------------------------------------------------------------------------------------

async def _service_problems(draft: schemas.ServiceCreate, *, branch_id: UUID, active: bool) -> dict[str, str]:
    """The service's own rules, then whether the branch's active resources can meet its requirements.

    An inactive service is not booked, so it need not be satisfiable (it can be retired after its staff left).
    """
    problems = service_problems(draft)
    if active:
        problems.update(requirement_problems(draft.requirements, await active_resource_facts(branch_id)))
    return problems


def _service_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """Schema fields as column values: money in two columns, structs as JSON-ready builtins."""
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "price":
            columns.update(price_amount=value.amount, price_currency=value.currency)
        else:
            columns[name] = msgspec.to_builtins(value)
    return columns


async def create_service(data: schemas.ServiceCreate, *, actor: Actor) -> schemas.Service:
    if not actor.can(Permission.catalog_write, data.branch_id):
        raise Forbidden("you may not change the catalog of this branch")
    fields = {f: getattr(data, f) for f in schemas.ServiceCreate.__struct_fields__ if f != "branch_id"}
    now = utc_now()
    service_id = uuid4()
    async with write_transaction():
        if not await _branch_exists(data.branch_id):
            raise Invalid({"branch_id": "no such branch"})
        if problems := await _service_problems(data, branch_id=data.branch_id, active=True):
            raise Invalid(problems)
        row = Service(
            **_service_columns(fields), id=service_id, branch=data.branch_id, active=True, created_at=now, updated_at=now
        )
        await Service.insert(row)
        service = service_schema(row.to_dict())
        await record_change(
            "service.created", Subject("service", str(service_id)), msgspec.to_builtins(service), actor=actor,
            changed_fields=sorted(fields), details={"branch_id": str(data.branch_id)},
        )
    return service


async def _service_for_write(service_id: UUID, actor: Actor) -> schemas.Service:
    row = await Service.select().where(Service.id == service_id).output(load_json=True).first()
    if row is None:
        raise NotFound("no such service")
    _check_may_write_catalog(actor, row["branch"], "service")
    return service_schema(row)


async def update_service(service_id: UUID, data: schemas.ServiceUpdate, *, actor: Actor) -> schemas.Service:
    """Change a service; the result as a whole must pass the same rules as a new one."""
    changes = _given(data)
    async with write_transaction():
        current = await _service_for_write(service_id, actor)
        draft = schemas.ServiceCreate(
            **{f: changes.get(f, getattr(current, f)) for f in schemas.ServiceCreate.__struct_fields__}
        )
        active = bool(changes.get("active", current.active))
        if problems := await _service_problems(draft, branch_id=current.branch_id, active=active):
            raise Invalid(problems)
        changed = sorted(k for k, v in changes.items() if getattr(current, k) != v)
        if not changed:
            return current
        service = msgspec.structs.replace(current, **{k: changes[k] for k in changed}, updated_at=utc_now())
        await Service.update(
            **_service_columns({k: changes[k] for k in changed}), updated_at=service.updated_at
        ).where(Service.id == service_id)
        await record_change(
            "service.updated", Subject("service", str(service_id)), msgspec.to_builtins(service), actor=actor,
            changed_fields=changed, details={"branch_id": str(current.branch_id)},
        )
    return service
