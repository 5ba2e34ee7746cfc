"""The catalog's forms: a service's booking questions and the customer profile fields, listed, written as
rows of questions (each save a new version, as the forms package keeps them) and archived.

Reads and writes go through `appliance.forms` (queries and actions), which check the actor's rights and
every field definition; this module only turns rows into definitions and problems back onto the rows.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from appliance.auth.actor import Actor
from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.catalog import queries as catalog_queries
from appliance.core.errors import AppError
from appliance.forms import actions, queries, schemas
from appliance.web.admin import form_rows
from appliance.web.admin.formdata import convert, field_errors, rows, text
from appliance.web.admin.shell import admin_page, go_to
from appliance.web.templating import AnyRequest, texts_for

BASE = "/admin/catalog/forms"
MOST_FORMS = 200


async def _service_names(actor: Actor) -> dict[UUID, str]:
    services, _ = await catalog_queries.list_services(actor=actor, branch_id=None, after=None, limit=MOST_FORMS)
    return {s.id: s.name for s in services}


def _posted_rows(form: FormMultiDict) -> list[tuple[int, dict[str, str]]]:
    return rows(form, "fields", form_rows.INPUTS)


class FormEditorPages(Controller):
    path = BASE
    include_in_schema = False

    @get("/", opt=requires(Permission.catalog_read))
    async def list_forms(self, request: AnyRequest) -> Template:
        actor = actor_of(request)
        forms, _ = await queries.list_forms(actor=actor, target=None, service_id=None, active=True, after=None,
                                            limit=MOST_FORMS)
        return admin_page(request, "admin/catalog/forms.html", {
            "forms": forms, "service_names": await _service_names(actor),
            "has_customer_form": any(f.target == "customers" for f in forms),
        }, section="catalog")

    async def _editor(
        self, request: AnyRequest, *, form: schemas.Form | None, target: str, service_id: UUID | None,
        values: dict[str, Any], questions: list[dict[str, str]], error: AppError | None = None,
        rows_at: dict[str, str] | None = None,
    ) -> Template:
        """The editor page, or after a refused save its form alone with every problem at its input."""
        actor = actor_of(request)
        errors: dict[str, str] = {}
        problem = None
        if error is not None:
            inline, problem = field_errors(texts_for(request), error)
            for key, message in inline.items():
                errors.setdefault(form_rows.input_of(key, rows_at or {}), message)
        shown = min(len(questions) + form_rows.EXTRA_ROWS, form_rows.MOST_ROWS)
        blank = dict.fromkeys(form_rows.INPUTS, "")
        service = await catalog_queries.get_service(service_id, actor=actor) if service_id else None
        # A service's questions are its branch's catalog; the customer fields span every branch.
        may_write = actor.can(Permission.catalog_write, service.branch_id) if service \
            else actor.branch_scope(Permission.catalog_write) is None
        context = {
            "form": form, "target": target, "service_id": service_id, "service_name": service.name if service else None,
            "values": values,
            "questions": [*questions, *[blank] * (shown - len(questions))], "types": form_rows.TYPES,
            "visible_ops": form_rows.VISIBLE_OPS, "form_keys": [q["key"] for q in questions if q.get("key")],
            "kept": form_rows.kept_of(form.fields) if form else {}, "errors": errors, "problem": problem,
            "may_write": may_write,
        }
        name = "admin/catalog/_form_editor.html" if error else "admin/catalog/form.html"
        return admin_page(request, name, context, section="catalog", status=error.status if error else 200)

    @get("/new", opt=requires(Permission.catalog_write))
    async def new_form(self, request: AnyRequest, service_id: FromQuery[UUID | None] = None) -> Template:
        """Booking questions for `service_id`, or the customer profile fields without it."""
        target = "service" if service_id else "customers"
        return await self._editor(request, form=None, target=target, service_id=service_id, values={"name": ""},
                                  questions=[])

    @post("/", opt=requires(Permission.catalog_write))
    async def create_form(self, request: AnyRequest) -> Response[Any]:
        posted = await request.form()
        service_id = text(posted, "service_id") or None
        target = "service" if service_id else "customers"
        questions = _posted_rows(posted)
        fields, rows_at = form_rows.fields_of(questions, [])
        body = {"target": target, "name": text(posted, "name", 200), "fields": fields, "service_id": service_id}
        try:
            created = await actions.create_form(convert(body, schemas.FormCreate, hints=form_rows.hints(len(fields))), actor=actor_of(request))
        except AppError as error:
            return await self._editor(
                request, form=None, target=target, service_id=UUID(service_id) if service_id else None,
                values=body, questions=[row for _, row in questions], error=error, rows_at=rows_at,
            )
        return go_to(request, f"{BASE}/{created.id}")

    @get("/{form_id:uuid}", opt=requires(Permission.catalog_read))
    async def form(self, request: AnyRequest, form_id: FromPath[UUID]) -> Template:
        form = await queries.get_form(form_id, actor=actor_of(request))
        return await self._editor(request, form=form, target=form.target, service_id=form.service_id,
                                  values={"name": form.name}, questions=form_rows.rows_of(form.fields))

    @post("/{form_id:uuid}", opt=requires(Permission.catalog_write))
    async def update_form(self, request: AnyRequest, form_id: FromPath[UUID]) -> Response[Any]:
        """Changed questions make a new version; answers already given keep the version they were given under."""
        actor = actor_of(request)
        form = await queries.get_form(form_id, actor=actor)
        posted = await request.form()
        questions = _posted_rows(posted)
        fields, rows_at = form_rows.fields_of(questions, form.fields)
        body = {"name": text(posted, "name", 200), "fields": fields}
        try:
            await actions.update_form(form_id, convert(body, schemas.FormUpdate, hints=form_rows.hints(len(fields))), actor=actor)
        except AppError as error:
            return await self._editor(
                request, form=form, target=form.target, service_id=form.service_id, values=body,
                questions=[row for _, row in questions], error=error, rows_at=rows_at,
            )
        return go_to(request, f"{BASE}/{form_id}")

    @post("/{form_id:uuid}/archive", opt=requires(Permission.catalog_write))
    async def archive(self, request: AnyRequest, form_id: FromPath[UUID]) -> Response[Any]:
        """No longer asked; its versions stay for the answers given under them."""
        await actions.archive_form(form_id, actor=actor_of(request))
        return go_to(request, BASE)
