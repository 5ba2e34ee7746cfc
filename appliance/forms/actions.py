"""The only code that writes forms. An edit of the fields adds a version; nothing is edited in place, so
answers given under an old version keep the definition they were checked against."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.catalog.tables import Service
from appliance.core.clock import utc_now
from appliance.core.db import is_unique_violation, write_transaction
from appliance.core.errors import Conflict, Forbidden, Invalid, NotFound
from appliance.events.envelope import Subject
from appliance.forms import schemas
from appliance.forms.logic import definition_problems
from appliance.forms.queries import attachment, fields_of, form_row, form_schema, may_read
from appliance.forms.tables import Form, FormVersion


def _check_may_write(actor: Actor, branch_id: UUID | None) -> None:
    """A service's form is its branch's catalog; the customer profile form is every branch's, so it
    needs catalog.write in all of them. 404 where the caller cannot even read it."""
    if branch_id is not None:
        if not may_read(actor, branch_id) and not actor.can(Permission.catalog_write, branch_id):
            raise NotFound("no such form")
        if not actor.can(Permission.catalog_write, branch_id):
            raise Forbidden("you may not change the catalog of this branch")
    elif not actor.can(Permission.catalog_write) or actor.branch_scope(Permission.catalog_write) is not None:
        raise Forbidden("customer profile fields are changed only with catalog rights in every branch")


def _changed_data(form: schemas.Form) -> dict[str, Any]:
    """What the event says: identifiers and the version; the definition is read from the form."""
    return {
        "form_id": str(form.id), "target": form.target, "version": form.version, "active": form.active,
        "service_id": str(form.service_id) if form.service_id else None,
        "branch_id": str(form.branch_id) if form.branch_id else None,
    }


def _details(form: schemas.Form) -> dict[str, Any]:
    return {"branch_id": str(form.branch_id)} if form.branch_id else {}


async def create_form(data: schemas.FormCreate, *, actor: Actor) -> schemas.Form:
    branch_id: UUID | None = None
    if data.target == "service":
        if data.service_id is None:
            raise Invalid({"service_id": "required for a form of a service"})
        service = await Service.select(Service.branch).where(Service.id == data.service_id).first()
        if service is None or not (may_read(actor, service["branch"]) or actor.can(Permission.catalog_write, service["branch"])):
            raise Invalid({"service_id": "no such service"})
        branch_id = service["branch"]
    elif data.service_id is not None:
        raise Invalid({"service_id": "customer profile fields belong to no service"})
    _check_may_write(actor, branch_id)
    if problems := definition_problems(data.fields):
        raise Invalid(problems)
    now = utc_now()
    form_id = uuid4()
    row = Form(
        id=form_id, target=data.target, attached_to=attachment(data.target, data.service_id), service=data.service_id,
        branch=branch_id, name=data.name.strip(), version=1, active=True, created_at=now, updated_at=now,
    )
    try:
        async with write_transaction():
            if await Form.exists().where(Form.attached_to == row.attached_to):
                raise _already_has_one(data.target)
            await Form.insert(row)
            await _add_version(form_id, 1, data.fields)
            form = form_schema(row.to_dict(), data.fields)
            await record_change(
                "form.created", Subject("form", str(form_id)), _changed_data(form), actor=actor,
                changed_fields=["name", "fields"], details=_details(form),
            )
    except Exception as exc:
        if is_unique_violation(exc):  # another form was attached meanwhile
            raise _already_has_one(data.target) from None
        raise
    return form


def _already_has_one(target: str) -> Conflict:
    what = "this service has" if target == "service" else "customers have"
    return Conflict(f"{what} a form already: edit it, or archive it first", code="form_exists")


async def _add_version(form_id: UUID, version: int, fields: list[schemas.FieldDef]) -> None:
    await FormVersion.insert(FormVersion(
        id=uuid4(), form=form_id, form_version=f"{form_id}:{version}", version=version,
        fields=msgspec.to_builtins(fields), created_at=utc_now(),
    ))


async def _current(form_id: UUID, actor: Actor) -> schemas.Form:
    row = await form_row(form_id)
    _check_may_write(actor, row["branch"])
    version = await FormVersion.select(FormVersion.fields).where(
        (FormVersion.form == form_id) & (FormVersion.version == row["version"])
    ).first()
    assert version is not None
    return form_schema(row, fields_of(version["fields"]))


async def update_form(form_id: UUID, data: schemas.FormUpdate, *, actor: Actor) -> schemas.Form:
    """Rename, or replace the fields as a whole, which makes the next version."""
    if data.fields is not msgspec.UNSET and (problems := definition_problems(data.fields)):
        raise Invalid(problems)
    try:
        async with write_transaction():
            current = await _current(form_id, actor)
            if not current.active:
                raise Conflict("an archived form is not edited; make a new one", code="form_archived")
            changes: dict[str, Any] = {}
            if data.name is not msgspec.UNSET and data.name.strip() != current.name:
                changes["name"] = data.name.strip()
            if data.fields is not msgspec.UNSET and data.fields != current.fields:
                changes["fields"] = data.fields
                changes["version"] = current.version + 1
            if not changes:
                return current
            form = msgspec.structs.replace(current, **changes, updated_at=utc_now())
            # Conditional on the version read: of two concurrent edits one wins, the other is told.
            updated = await Form.update({
                Form.name: form.name, Form.version: form.version, Form.updated_at: form.updated_at,
            }).where((Form.id == form_id) & (Form.version == current.version)).returning(Form.id)
            if not updated:
                raise _edited_meanwhile()
            if "fields" in changes:
                await _add_version(form_id, form.version, form.fields)
            await record_change(
                "form.updated", Subject("form", str(form_id)),
                {**_changed_data(form), "previous_version": current.version}, actor=actor,
                changed_fields=sorted(k for k in changes if k != "version"), details=_details(form),
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise _edited_meanwhile() from None
        raise
    return form


def _edited_meanwhile() -> Conflict:
    return Conflict("the form was edited meanwhile; reload it", code="form_changed")


async def archive_form(form_id: UUID, *, actor: Actor) -> None:
    """Stop asking it: bookings of the service then take no answers (or a new form's). Its versions stay,
    since answers given under them point to them."""
    async with write_transaction():
        current = await _current(form_id, actor)
        if not current.active:
            return
        form = msgspec.structs.replace(current, active=False, updated_at=utc_now())
        await Form.update({Form.active: False, Form.attached_to: None, Form.updated_at: form.updated_at}).where(
            Form.id == form_id
        )
        await record_change(
            "form.archived", Subject("form", str(form_id)), _changed_data(form), actor=actor,
            changed_fields=["active"], details=_details(form),
        )
