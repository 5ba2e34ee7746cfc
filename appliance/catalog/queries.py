"""Catalog reads, limited to the branches the actor may see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.catalog import schemas
from appliance.catalog.logic import ResourceFacts
from appliance.catalog.tables import Branch, Resource, Service, TimeOff
from appliance.core.pagination import split_page
from appliance.core.errors import NotFound

# An id no row has: `is_in([])` is not valid SQL, so an empty scope filters on this instead.
_NO_ID = UUID(int=0)


def _page_of(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], UUID | None]:
    page, last = split_page(rows, limit)
    return page, last["id"] if last else None


def branch_schema(row: dict[str, Any]) -> schemas.Branch:
    return msgspec.convert({f: row[f] for f in schemas.Branch.__struct_fields__}, schemas.Branch)


def _in_scope(actor: Actor, permission: Permission, branch_id: UUID) -> bool:
    scope = actor.branch_scope(permission)
    return scope is None or branch_id in scope


async def get_branch(branch_id: UUID, *, actor: Actor) -> schemas.Branch:
    row = await Branch.select().where(Branch.id == branch_id).output(load_json=True).first()
    if row is None or not _in_scope(actor, Permission.branches_read, branch_id):
        raise NotFound("no such branch")
    return branch_schema(row)


async def list_branches(*, actor: Actor, after: UUID | None, limit: int) -> tuple[list[schemas.Branch], UUID | None]:
    """A page ordered by id, and the id to continue after (None on the last page)."""
    query = Branch.select().order_by(Branch.id).limit(limit + 1).output(load_json=True)
    if after is not None:
        query = query.where(Branch.id > after)
    scope = actor.branch_scope(Permission.branches_read)
    if scope is not None:
        query = query.where(Branch.id.is_in(list(scope) or [_NO_ID]))
    rows, last = _page_of(await query, limit)
    return [branch_schema(r) for r in rows], last


# --- Resources -------------------------------------------------------------------------------------

def resource_schema(row: dict[str, Any]) -> schemas.Resource:
    fields = {f: row[f] for f in schemas.Resource.__struct_fields__ if f in row}
    return msgspec.convert({**fields, "branch_id": row["branch"], "user_id": row["user"]}, schemas.Resource)


async def get_resource(resource_id: UUID, *, actor: Actor) -> schemas.Resource:
    """The resource, if it exists in a branch where the actor may read the catalog."""
    row = await Resource.select().where(Resource.id == resource_id).output(load_json=True).first()
    if row is None or not _in_scope(actor, Permission.catalog_read, row["branch"]):
        raise NotFound("no such resource")
    return resource_schema(row)


async def list_resources(
    *,
    actor: Actor,
    branch_id: UUID | None = None,
    kind: schemas.ResourceKind | None = None,
    active: bool | None = None,
    after: UUID | None = None,
    limit: int,
) -> tuple[list[schemas.Resource], UUID | None]:
    """A page ordered by id, and the id to continue after (None on the last page)."""
    query = Resource.select().order_by(Resource.id).limit(limit + 1).output(load_json=True)
    if after is not None:
        query = query.where(Resource.id > after)
    if branch_id is not None:
        query = query.where(Resource.branch == branch_id)
    if kind is not None:
        query = query.where(Resource.kind == kind)
    if active is not None:
        query = query.where(Resource.active == active)
    scope = actor.branch_scope(Permission.catalog_read)
    if scope is not None:
        query = query.where(Resource.branch.is_in(list(scope) or [_NO_ID]))
    rows, last = _page_of(await query, limit)
    return [resource_schema(r) for r in rows], last


async def get_schedule(resource_id: UUID, *, actor: Actor) -> schemas.Schedule:
    """The resource's weekly hours, dated exceptions and recurring blocks (local time of its branch)."""
    await get_resource(resource_id, actor=actor)
    row = await Resource.select(Resource.schedule).where(Resource.id == resource_id).output(load_json=True).first()
    assert row is not None
    return msgspec.convert(row["schedule"] or {}, schemas.Schedule)


async def active_resource_facts(branch_id: UUID) -> list[ResourceFacts]:
    """The branch's active resources as requirement matching sees them (no actor: a rule's input)."""
    rows = await Resource.select(Resource.id, Resource.kind, Resource.skills).where(
        (Resource.branch == branch_id) & Resource.active.eq(True)
    ).output(load_json=True)
    return [ResourceFacts(id=r["id"], kind=r["kind"], skills=frozenset(r["skills"])) for r in rows]


def time_off_schema(row: dict[str, Any]) -> schemas.TimeOff:
    return schemas.TimeOff(
        id=row["id"], resource_id=row["resource"], starts_at=row["starts_at"], ends_at=row["ends_at"],
        reason=row["reason"], created_at=row["created_at"], booking_id=row.get("booking"),
    )


async def list_time_off(
    resource_id: UUID, *, actor: Actor, starts_before: datetime | None = None, ends_after: datetime | None = None
) -> list[schemas.TimeOff]:
    """The resource's time off overlapping [ends_after, starts_before), earliest first."""
    await get_resource(resource_id, actor=actor)
    query = TimeOff.select().where(TimeOff.resource == resource_id).order_by(TimeOff.starts_at).order_by(TimeOff.id)
    # SQLite keeps these as UTC text, so bounds are compared in UTC too.
    if starts_before is not None:
        query = query.where(TimeOff.starts_at < starts_before.astimezone(UTC))
    if ends_after is not None:
        query = query.where(TimeOff.ends_at > ends_after.astimezone(UTC))
    return [time_off_schema(r) for r in await query]


# --- Services --------------------------------------------------------------------------------------

def service_schema(row: dict[str, Any]) -> schemas.Service:
    fields = {f: row[f] for f in schemas.Service.__struct_fields__ if f in row}
    fields.update(
        branch_id=row["branch"], price={"amount": row["price_amount"], "currency": row["price_currency"]},
    )
    return msgspec.convert(fields, schemas.Service)


async def get_service(service_id: UUID, *, actor: Actor) -> schemas.Service:
    """The service, if it exists in a branch where the actor may read the catalog."""
    row = await Service.select().where(Service.id == service_id).output(load_json=True).first()
    if row is None or not _in_scope(actor, Permission.catalog_read, row["branch"]):
        raise NotFound("no such service")
    return service_schema(row)


async def list_services(
    *, actor: Actor, branch_id: UUID | None = None, active: bool | None = None, after: UUID | None = None, limit: int
) -> tuple[list[schemas.Service], UUID | None]:
    """A page ordered by id, and the id to continue after (None on the last page)."""
    query = Service.select().order_by(Service.id).limit(limit + 1).output(load_json=True)
    if after is not None:
        query = query.where(Service.id > after)
    if branch_id is not None:
        query = query.where(Service.branch == branch_id)
    if active is not None:
        query = query.where(Service.active == active)
    scope = actor.branch_scope(Permission.catalog_read)
    if scope is not None:
        query = query.where(Service.branch.is_in(list(scope) or [_NO_ID]))
    rows, last = _page_of(await query, limit)
    return [service_schema(r) for r in rows], last


# --- What the public portal offers -----------------------------------------------------------------
def _bookable_on_the_web(service: schemas.Service) -> bool:
    return service.active and (not service.channels or "web" in service.channels)


async def list_bookable_branches() -> list[schemas.Branch]:
    """Active branches with at least one active service customers may book on the web (no actor: public)."""
    services = [service_schema(r) for r in await Service.select().where(Service.active == True).output(load_json=True)]  # noqa: E712
    open_ids = {s.branch_id for s in services if _bookable_on_the_web(s)}
    rows = await Branch.select().where(Branch.active == True).order_by(Branch.name).output(load_json=True)  # noqa: E712
    return [branch_schema(r) for r in rows if r["id"] in open_ids]


async def get_public_branch(branch_id: UUID) -> schemas.Branch:
    """A branch's public face (name, address, time zone) for a customer holding a booking there."""
    row = await Branch.select().where(Branch.id == branch_id).output(load_json=True).first()
    if row is None:
        raise NotFound("no such branch")
    return branch_schema(row)


async def get_bookable_branch(branch_id: UUID) -> schemas.Branch:
    for branch in await list_bookable_branches():
        if branch.id == branch_id:
            return branch
    raise NotFound("no such branch")


async def list_bookable_services(branch_id: UUID) -> list[schemas.Service]:
    rows = await Service.select().where(Service.branch == branch_id).order_by(Service.name).output(load_json=True)
    return [s for s in map(service_schema, rows) if _bookable_on_the_web(s)]


async def get_bookable_service(service_id: UUID) -> schemas.Service:
    row = await Service.select().where(Service.id == service_id).output(load_json=True).first()
    if row is None or not _bookable_on_the_web(service := service_schema(row)):
        raise NotFound("no such service")
    return service


async def choosable_staff_of(service_id: UUID) -> list[schemas.Resource]:
    """`list_choosable_staff` by the service's id, for a customer holding a booking of it (no actor)."""
    row = await Service.select().where(Service.id == service_id).output(load_json=True).first()
    return await list_choosable_staff(service_schema(row)) if row else []


async def list_choosable_staff(service: schemas.Service) -> list[schemas.Resource]:
    """The active staff members a customer may pick for the service: those with every skill one of its
    staff requirements asks for. Empty when the service does not let customers choose."""
    if not service.customer_picks_staff:
        return []
    wanted = [set(r.skills) for r in service.requirements if r.kind == "staff"]
    rows = await Resource.select().where(
        (Resource.branch == service.branch_id) & (Resource.active == True) & (Resource.kind == "staff")  # noqa: E712
    ).order_by(Resource.name).output(load_json=True)
    staff = [resource_schema(r) for r in rows]
    return [r for r in staff if any(skills <= set(r.skills) for skills in wanted)]
