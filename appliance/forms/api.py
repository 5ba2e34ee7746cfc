"""JSON API for forms (authorised like the catalog), and the portal's read of a service's booking form."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import PUBLIC, requires
from appliance.auth.roles import Permission
from appliance.bookings.queries import load_service
from appliance.core.errors import NotFound
from appliance.core.pagination import DEFAULT_LIMIT, Page, check_limit, decode_id_cursor, id_page
from appliance.forms import actions, queries, schemas


class FormController(Controller):
    path = "/api/v1/forms"
    tags = ["forms"]

    @post("/", opt=requires(Permission.catalog_write))
    async def create_form(self, request: AnyRequest, data: JSONBody[schemas.FormCreate]) -> schemas.Form:
        """A service's booking questions, or the customer profile fields: version 1."""
        return await actions.create_form(data, actor=actor_of(request))

    @get("/", opt=requires(Permission.catalog_read))
    async def list_forms(
        self, request: AnyRequest, target: FromQuery[schemas.Target | None] = None,
        service_id: FromQuery[UUID | None] = None, active: FromQuery[bool | None] = None,
        cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[schemas.Form]:
        items, last = await queries.list_forms(
            actor=actor_of(request), target=target, service_id=service_id, active=active, after=decode_id_cursor(cursor),
            limit=check_limit(limit),
        )
        return id_page(items, last)

    @get("/{form_id:uuid}", opt=requires(Permission.catalog_read))
    async def get_form(self, request: AnyRequest, form_id: FromPath[UUID]) -> schemas.Form:
        return await queries.get_form(form_id, actor=actor_of(request))

    @get("/{form_id:uuid}/versions/{version:int}", opt=requires(Permission.catalog_read))
    async def get_version(self, request: AnyRequest, form_id: FromPath[UUID], version: FromPath[int]) -> schemas.FormVersion:
        """The fields of one version, as answers given under it were checked."""
        return await queries.get_form_version(form_id, version, actor=actor_of(request))

    @patch("/{form_id:uuid}", opt=requires(Permission.catalog_write))
    async def update_form(self, request: AnyRequest, form_id: FromPath[UUID], data: JSONBody[schemas.FormUpdate]) -> schemas.Form:
        """Rename, or replace the fields as a whole: a new version, which new answers are checked against."""
        return await actions.update_form(form_id, data, actor=actor_of(request))

    @delete("/{form_id:uuid}", opt=requires(Permission.catalog_write), status_code=HTTP_204_NO_CONTENT)
    async def archive_form(self, request: AnyRequest, form_id: FromPath[UUID]) -> None:
        """Archive: no longer asked; its versions stay for the answers given under them."""
        await actions.archive_form(form_id, actor=actor_of(request))


class PortalFormController(Controller):
    path = "/api/v1/portal/services"
    tags = ["portal"]
    opt = {**PUBLIC, "rate_limited": "portal"}

    @get("/{service_id:uuid}/form")
    async def service_form(self, service_id: FromPath[UUID]) -> schemas.PublicForm:
        """The questions to answer when booking the service online (none when it has no form)."""
        ctx = await load_service(service_id)
        if not ctx.offered_online():
            raise NotFound("no such service")
        if ctx.form is None:
            return schemas.PublicForm(service_id=service_id, form_id=None, version=None, fields=[])
        fields = await queries.form_fields(ctx.form)
        return schemas.PublicForm(service_id=service_id, form_id=ctx.form.id, version=ctx.form.version, fields=fields)
