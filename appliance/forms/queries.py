"""Reads of forms: the current form of a service or of customers, versions, and what rules may test."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.core.db import json_value
from appliance.core.errors import NotFound
from appliance.core.pagination import split_page
from appliance.forms import schemas
from appliance.forms.logic import CONDITION_KINDS, ConditionKind
from appliance.forms.tables import Form, FormVersion

CUSTOMERS = "customers"


class FormRef(NamedTuple):
    """A form as answers are checked against and stored with: its id and current version."""

    id: UUID
    version: int


def attachment(target: str, service_id: UUID | None) -> str:
    """The `attached_to` of the active form of a service, or of customers."""
    return f"service:{service_id}" if target == "service" else CUSTOMERS


def fields_of(value: Any) -> list[schemas.FieldDef]:
    return msgspec.convert(json_value(value) or [], list[schemas.FieldDef])


def form_schema(row: dict[str, Any], fields: list[schemas.FieldDef]) -> schemas.Form:
    return schemas.Form(
        id=row["id"], target=row["target"], service_id=row["service"], branch_id=row["branch"], name=row["name"],
        version=row["version"], fields=fields, active=row["active"], created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def may_read(actor: Actor, branch_id: UUID | None) -> bool:
    """A service's form is part of its branch's catalog; the customer profile form is read by anyone
    who reads the catalog or customers somewhere."""
    if branch_id is not None:
        return actor.can(Permission.catalog_read, branch_id)
    return actor.can(Permission.catalog_read) or actor.can(Permission.customers_read)


# A form version never changes once written (an edit adds a version): its fields are kept per process,
# as many as this, so checking answers costs no read of them.
_FIELDS_KEPT = 1024
_fields_of_version: dict[tuple[UUID, int], tuple[schemas.FieldDef, ...]] = {}


async def _version_fields(form_id: UUID, version: int) -> list[schemas.FieldDef]:
    if (kept := _fields_of_version.get((form_id, version))) is not None:
        return list(kept)
    row = await FormVersion.select(FormVersion.fields).where(
        (FormVersion.form == form_id) & (FormVersion.version == version)
    ).first()
    if row is None:
        raise NotFound("no such form version")
    fields = fields_of(row["fields"])
    if len(_fields_of_version) >= _FIELDS_KEPT:
        _fields_of_version.clear()
    _fields_of_version[(form_id, version)] = tuple(fields)
    return fields


async def form_row(form_id: UUID) -> dict[str, Any]:
    row: dict[str, Any] | None = await Form.select().where(Form.id == form_id).first()
    if row is None:
        raise NotFound("no such form")
    return row


async def get_form(form_id: UUID, *, actor: Actor) -> schemas.Form:
    row = await form_row(form_id)
    if not may_read(actor, row["branch"]):
        raise NotFound("no such form")
    return form_schema(row, await _version_fields(form_id, row["version"]))


async def get_form_version(form_id: UUID, version: int, *, actor: Actor) -> schemas.FormVersion:
    row = await form_row(form_id)
    if not may_read(actor, row["branch"]):
        raise NotFound("no such form")
    found = await FormVersion.select().where((FormVersion.form == form_id) & (FormVersion.version == version)).first()
    if found is None:
        raise NotFound("no such form version")
    return schemas.FormVersion(
        form_id=form_id, version=version, fields=fields_of(found["fields"]), created_at=found["created_at"]
    )


async def list_forms(
    *, actor: Actor, target: str | None, service_id: UUID | None, active: bool | None, after: UUID | None, limit: int
) -> tuple[list[schemas.Form], UUID | None]:
    """By id; the service forms of the branches whose catalog the caller reads, and the customer form."""
    query = Form.select().order_by(Form.id).limit(limit + 1)
    scope = actor.branch_scope(Permission.catalog_read)
    if scope is not None:
        in_scope = Form.branch.is_in(list(scope) or [UUID(int=0)])
        query = query.where(in_scope | Form.branch.is_null() if may_read(actor, None) else in_scope)
    if target is not None:
        query = query.where(Form.target == target)
    if service_id is not None:
        query = query.where(Form.service == service_id)
    if active is not None:
        query = query.where(Form.active == active)
    if after is not None:
        query = query.where(Form.id > after)
    rows, last = split_page(await query, limit)
    versions = await FormVersion.select(FormVersion.form, FormVersion.version, FormVersion.fields).where(
        FormVersion.form.is_in([r["id"] for r in rows] or [UUID(int=0)])
    )
    fields = {(v["form"], v["version"]): v["fields"] for v in versions}
    return [form_schema(r, fields_of(fields[(r["id"], r["version"])])) for r in rows], last["id"] if last else None


async def current_form(attached_to: str) -> FormRef | None:
    """The active form attached to a service (`service:<id>`) or to customers: its id and version."""
    row = await Form.select(Form.id, Form.version).where(Form.attached_to == attached_to).first()
    return FormRef(row["id"], row["version"]) if row else None


async def form_fields(form: FormRef) -> list[schemas.FieldDef]:
    return await _version_fields(form.id, form.version)


async def profile_fields() -> list[schemas.FieldDef]:
    """The fields of the current customers form (none without one)."""
    form = await current_form(CUSTOMERS)
    return await form_fields(form) if form else []


async def profile_field_kinds() -> dict[str, ConditionKind]:
    """The customer profile fields rules may test as `customer.fields.<key>`: those of the current
    customers form, with the kind conditions see."""
    return {item.key: CONDITION_KINDS[item.type] for item in await profile_fields()}


async def answer_kinds(branch_id: UUID | None, *, within: Collection[UUID] | None = None) -> dict[str, ConditionKind]:
    """The booking questions rules may test as `answers.<key>`, with the kind conditions see: those of the
    active forms of the branch's services (of every branch for a rule of every branch, kept to `within` when
    given: what a branch-bound rule builder may show). A key asked as different types by different services
    is left out: no one kind of test fits it."""
    query = Form.select(Form.id, Form.version).where((Form.target == "service") & (Form.active == True))  # noqa: E712
    if branch_id is not None:
        query = query.where(Form.branch == branch_id)
    elif within is not None:
        query = query.where(Form.branch.is_in(list(within) or [UUID(int=0)]))
    forms = await query
    rows = await FormVersion.select(FormVersion.form, FormVersion.version, FormVersion.fields).where(
        FormVersion.form.is_in([f["id"] for f in forms] or [UUID(int=0)])
    )
    current = {(f["id"], f["version"]) for f in forms}
    kinds: dict[str, set[ConditionKind]] = {}
    for row in rows:
        if (row["form"], row["version"]) in current:
            for item in fields_of(row["fields"]):
                kinds.setdefault(item.key, set()).add(CONDITION_KINDS[item.type])
    return {key: next(iter(found)) for key, found in sorted(kinds.items()) if len(found) == 1}
