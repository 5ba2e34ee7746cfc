"""The catalog section: branches (with opening hours), services and resources per branch, a resource's
weekly schedule, dated exceptions and time off.

Reads and writes go through `appliance.catalog` (queries and actions), which check the actor's branch
rights and every rule; the pages only turn forms into its input structs and its errors into messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID
from zoneinfo import available_timezones

from litestar import Controller, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from appliance.auth.actor import Actor
from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.catalog import actions, queries, schemas
from appliance.core.errors import AppError
from appliance.forms import schemas as schemas_forms
from appliance.forms.queries import attachment, current_form, get_form
from appliance.web.admin import catalog_forms as forms
from appliance.web.admin.formdata import convert, field_errors, rows, yuan
from appliance.web.admin.shell import admin_page, go_to
from appliance.web.i18n import N_
from appliance.web.templating import AnyRequest, texts_for

SECTION = "catalog"
LIST_LIMIT = 200
BASE = "/admin/catalog"
ZONES = sorted(available_timezones())
WEEKDAYS = {
    "mon": N_("Monday"), "tue": N_("Tuesday"), "wed": N_("Wednesday"), "thu": N_("Thursday"), "fri": N_("Friday"),
    "sat": N_("Saturday"), "sun": N_("Sunday"),
}
KINDS = {"staff": N_("Staff member"), "room": N_("Room"), "equipment": N_("Equipment")}
CHANNELS = {
    "web": N_("Online (portal)"), "admin": N_("Front desk"), "wechat": N_("WeChat"), "api": N_("Other systems (API)"),
    "phone": N_("Phone"), "walk_in": N_("Walk-in"),
}
ASSIGNMENTS = {
    "least_loaded": N_("The least busy that day (spreads the work)"),
    "fixed_order": N_("Always in the same order (fills one day before the next)"),
}


def _common() -> dict[str, Any]:
    return {"weekdays": WEEKDAYS, "kinds": KINDS, "channels": CHANNELS, "assignments": ASSIGNMENTS, "zones": ZONES, "yuan": yuan}


async def _branches(actor: Actor) -> list[schemas.Branch]:
    branches, _ = await queries.list_branches(actor=actor, after=None, limit=LIST_LIMIT)
    return sorted(branches, key=lambda b: b.name)


def _form_page(
    request: AnyRequest, name: str, context: dict[str, Any], error: AppError | None = None,
    rename: Callable[[str], str] = lambda key: key,
) -> Template:
    """The page `admin/catalog/<name>.html`, or after a failed post its form alone
    (`_<name>_form.html`) with the messages inline and the error's status."""
    if error is None:
        return admin_page(request, f"admin/catalog/{name}.html", {**_common(), "errors": {}, "problem": None, **context},
                          section=SECTION)
    errors, problem = field_errors(texts_for(request), error, rename)
    return admin_page(request, f"admin/catalog/_{name}_form.html", {
        **_common(), "errors": errors, "problem": problem, **context,
    }, section=SECTION, status=error.status)


class CatalogPages(Controller):
    path = BASE
    include_in_schema = False

    @get("/", opt=requires(Permission.catalog_read))
    async def index(self, request: AnyRequest, branch: FromQuery[UUID | None] = None) -> Template:
        """One branch's services and resources (the first branch unless one is chosen)."""
        actor = actor_of(request)
        branches = await _branches(actor)
        chosen = next((b for b in branches if b.id == branch), branches[0] if branches else None)
        services: list[schemas.Service] = []
        resources: list[schemas.Resource] = []
        if chosen is not None:
            services, _ = await queries.list_services(actor=actor, branch_id=chosen.id, limit=LIST_LIMIT)
            resources, _ = await queries.list_resources(actor=actor, branch_id=chosen.id, limit=LIST_LIMIT)
        return admin_page(request, "admin/catalog/index.html", {
            **_common(), "branches": branches, "branch": chosen, "may_write": bool(chosen and actor.can(Permission.catalog_write, chosen.id)),
            "services": sorted(services, key=lambda s: s.name), "resources": sorted(resources, key=lambda r: (r.kind, r.name)),
        }, section=SECTION)

    # --- Branches --------------------------------------------------------------------------------------

    @get("/branches/new", opt=requires(Permission.branches_write))
    async def new_branch(self, request: AnyRequest) -> Template:
        return _form_page(request, "branch", {"branch": None, "values": _branch_values(None)})

    @post("/branches", opt=requires(Permission.branches_write))
    async def create_branch(self, request: AnyRequest) -> Response[Any]:
        data, rename = forms.branch_fields(await request.form())
        try:
            forms.check_weekly("opening_hours", data["opening_hours"])
            branch = await actions.create_branch(convert(data, schemas.BranchCreate), actor=actor_of(request))
        except AppError as error:
            return _form_page(request, "branch", {"branch": None, "values": data}, error, rename)
        return go_to(request, f"{BASE}/?branch={branch.id}")

    @get("/branches/{branch_id:uuid}", opt=requires(Permission.branches_read))
    async def branch(self, request: AnyRequest, branch_id: FromPath[UUID]) -> Template:
        branch = await queries.get_branch(branch_id, actor=actor_of(request))
        return _form_page(request, "branch", {"branch": branch, "values": _branch_values(branch)})

    @post("/branches/{branch_id:uuid}", opt=requires(Permission.branches_write))
    async def update_branch(self, request: AnyRequest, branch_id: FromPath[UUID]) -> Response[Any]:
        actor = actor_of(request)
        form = await request.form()
        data, rename = forms.branch_fields(form)
        branch = await queries.get_branch(branch_id, actor=actor)
        try:
            forms.check_weekly("opening_hours", data["opening_hours"])
            update = convert({**data, "active": form.get("active") == "on"}, schemas.BranchUpdate)
            await actions.update_branch(branch_id, update, actor=actor)
        except AppError as error:
            return _form_page(request, "branch", {"branch": branch, "values": data}, error, rename)
        return go_to(request, f"{BASE}/?branch={branch_id}")

    # --- Services --------------------------------------------------------------------------------------

    @get("/services/new", opt=requires(Permission.catalog_write))
    async def new_service(self, request: AnyRequest, branch: FromQuery[UUID | None] = None) -> Template:
        branches = await _branches(actor_of(request))
        return _form_page(request, "service", {
            "service": None, "branches": branches, "branch_id": branch, "values": _service_values(None),
            "booking_form": None, "may_write": True,
        })

    @post("/services", opt=requires(Permission.catalog_write))
    async def create_service(self, request: AnyRequest) -> Response[Any]:
        actor = actor_of(request)
        form = await request.form()
        data, rename = forms.service_fields(form)
        branch_id = forms.branch_of(form)
        try:
            service = await actions.create_service(
                convert({**data, "branch_id": str(branch_id or "")}, schemas.ServiceCreate), actor=actor
            )
        except AppError as error:
            return _form_page(request, "service", {
                "service": None, "branches": await _branches(actor), "branch_id": branch_id, "values": data,
                "booking_form": None, "may_write": True,
            }, error, rename)
        return go_to(request, f"{BASE}/services/{service.id}")

    @get("/services/{service_id:uuid}", opt=requires(Permission.catalog_read))
    async def service(self, request: AnyRequest, service_id: FromPath[UUID]) -> Template:
        actor = actor_of(request)
        service = await queries.get_service(service_id, actor=actor)
        return _form_page(request, "service", {
            "service": service, "branches": [], "branch_id": service.branch_id, "values": _service_values(service),
            "booking_form": await _booking_form(service.id, actor),
            "may_write": actor.can(Permission.catalog_write, service.branch_id),
        })

    @post("/services/{service_id:uuid}", opt=requires(Permission.catalog_write))
    async def update_service(self, request: AnyRequest, service_id: FromPath[UUID]) -> Response[Any]:
        actor = actor_of(request)
        form = await request.form()
        data, rename = forms.service_fields(form)
        service = await queries.get_service(service_id, actor=actor)
        try:
            update = convert({**data, "active": form.get("active") == "on"}, schemas.ServiceUpdate)
            await actions.update_service(service_id, update, actor=actor)
        except AppError as error:
            return _form_page(request, "service", {
                "service": service, "branches": [], "branch_id": service.branch_id, "values": {**data, "active": form.get("active") == "on"},
                "booking_form": None, "may_write": True,
            }, error, rename)
        return go_to(request, f"{BASE}/services/{service_id}")

    # --- Resources -------------------------------------------------------------------------------------

    @get("/resources/new", opt=requires(Permission.catalog_write))
    async def new_resource(self, request: AnyRequest, branch: FromQuery[UUID | None] = None) -> Template:
        return _form_page(request, "resource_new", {
            "branches": await _branches(actor_of(request)), "branch_id": branch, "values": {"kind": "staff", "capacity": 1},
        })

    @post("/resources", opt=requires(Permission.catalog_write))
    async def create_resource(self, request: AnyRequest) -> Response[Any]:
        actor = actor_of(request)
        form = await request.form()
        data = {**forms.resource_fields(form), "kind": str(form.get("kind", ""))}
        branch_id = forms.branch_of(form)
        try:
            created = convert({**data, "branch_id": str(branch_id or "")}, schemas.ResourceCreate)
            resource = await actions.create_resource(created, actor=actor)
        except AppError as error:
            return _form_page(request, "resource_new", {
                "branches": await _branches(actor), "branch_id": branch_id, "values": data,
            }, error)
        return go_to(request, f"{BASE}/resources/{resource.id}")

    @get("/resources/{resource_id:uuid}", opt=requires(Permission.catalog_read))
    async def resource(self, request: AnyRequest, resource_id: FromPath[UUID]) -> Template:
        """The resource's details, its weekly schedule editor with dated exceptions, and its time off."""
        return await self._resource_page(request, resource_id)

    async def _resource_page(
        self, request: AnyRequest, resource_id: UUID, *, part: str = "", values: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None, error: AppError | None = None,
        rename: Callable[[str], str] = lambda key: key,
    ) -> Template:
        """The resource page, or after a failed post one of its forms (`part`) with the messages inline."""
        actor = actor_of(request)
        resource = await queries.get_resource(resource_id, actor=actor)
        branch = await queries.get_branch(resource.branch_id, actor=actor)
        errors, problem = field_errors(texts_for(request), error, rename) if error else ({}, None)
        context = {
            **_common(), "resource": resource, "branch": branch, "may_write": actor.can(Permission.catalog_write, branch.id),
            "values": values or _resource_values(resource),
            "schedule": schedule or _schedule_values(await queries.get_schedule(resource_id, actor=actor)),
            "time_off": await queries.list_time_off(resource_id, actor=actor), "errors": errors, "problem": problem,
            "saved": request.query_params.get("saved") == "schedule",
        }
        template = f"admin/catalog/_{part}_form.html" if part else "admin/catalog/resource.html"
        return admin_page(request, template, context, section=SECTION, status=error.status if error else 200)

    async def _post_resource_form(
        self, request: AnyRequest, resource_id: UUID, part: str, save: Callable[[Actor, FormMultiDict], Awaitable[object]],
        *, again: Callable[[FormMultiDict], dict[str, Any]], rename: Callable[[str], str] | None = None, done: str = "",
    ) -> Response[Any]:
        """One of the resource page's forms (`part`) saved through `save`; when refused, that form again with
        what was typed (`again`: the page's values or schedule) and the messages inline."""
        form = await request.form()
        try:
            await save(actor_of(request), form)
        except AppError as error:
            return await self._resource_page(request, resource_id, part=part, error=error, rename=rename or (lambda key: key),
                                             **again(form))
        return go_to(request, f"{BASE}/resources/{resource_id}{done}")

    @post("/resources/{resource_id:uuid}", opt=requires(Permission.catalog_write))
    async def update_resource(self, request: AnyRequest, resource_id: FromPath[UUID]) -> Response[Any]:
        def typed(form: FormMultiDict) -> dict[str, Any]:
            return {**forms.resource_fields(form), "active": form.get("active") == "on"}

        async def save(actor: Actor, form: FormMultiDict) -> object:
            return await actions.update_resource(resource_id, convert(typed(form), schemas.ResourceUpdate), actor=actor)

        return await self._post_resource_form(request, resource_id, "resource", save, again=lambda form: {"values": typed(form)})

    @post("/resources/{resource_id:uuid}/schedule", opt=requires(Permission.catalog_write))
    async def set_schedule(self, request: AnyRequest, resource_id: FromPath[UUID]) -> Response[Any]:
        """Replace the weekly hours and dated exceptions (the recurring blocks stay as they are)."""
        async def save(actor: Actor, form: FormMultiDict) -> object:
            current = await queries.get_schedule(resource_id, actor=actor)
            return await actions.set_resource_schedule(resource_id, forms.schedule(form, current.blocks), actor=actor)

        return await self._post_resource_form(
            request, resource_id, "schedule", save, again=lambda form: {"schedule": _posted_schedule(form)},
            rename=forms.schedule_names(await request.form()), done="?saved=schedule",
        )

    @post("/resources/{resource_id:uuid}/time-off", opt=requires(Permission.catalog_write))
    async def add_time_off(self, request: AnyRequest, resource_id: FromPath[UUID]) -> Response[Any]:
        async def save(actor: Actor, form: FormMultiDict) -> object:
            resource = await queries.get_resource(resource_id, actor=actor)
            branch = await queries.get_branch(resource.branch_id, actor=actor)
            return await actions.add_time_off(resource_id, forms.time_off(form, branch.timezone), actor=actor)

        return await self._post_resource_form(
            request, resource_id, "time_off", save,
            again=lambda form: {"values": {k: str(form.get(k, "")) for k in ("starts_at", "ends_at", "reason")}},
        )

    @post("/resources/{resource_id:uuid}/time-off/{time_off_id:uuid}/remove", opt=requires(Permission.catalog_write))
    async def remove_time_off(self, request: AnyRequest, resource_id: FromPath[UUID], time_off_id: FromPath[UUID]) -> Response[Any]:
        await actions.remove_time_off(resource_id, time_off_id, actor=actor_of(request))
        return go_to(request, f"{BASE}/resources/{resource_id}")


async def _booking_form(service_id: UUID, actor: Actor) -> schemas_forms.Form | None:
    """The booking form attached to the service (edited in the forms pages)."""
    found = await current_form(attachment("service", service_id))
    if found is None:
        return None
    try:
        return await get_form(found.id, actor=actor)
    except AppError:
        return None


def _branch_values(branch: schemas.Branch | None) -> dict[str, Any]:
    if branch is None:
        return {"name": "", "timezone": "Asia/Shanghai", "address": "", "opening_hours": {}, "active": True}
    return {
        "name": branch.name, "timezone": branch.timezone, "address": branch.address, "active": branch.active,
        "opening_hours": {d: [list(i) for i in v] for d, v in branch.opening_hours.items()},
    }


def _service_values(service: schemas.Service | None) -> dict[str, Any]:
    """The form's values: a new service starts from ServiceCreate's defaults."""
    if service is None:
        return {
            "name": "", "description": "", "duration_minutes": 60, "buffer_before_minutes": 0, "buffer_after_minutes": 0,
            "price": {"amount": 0}, "seats": 1, "requirements": [{"kind": "staff", "skills": [], "count": 1}],
            "slot_step_minutes": 15, "min_notice_minutes": 0, "max_advance_days": 90, "channels": [],
            "customer_picks_staff": False, "requires_approval": False, "cancel_cutoff_minutes": 120,
            "reschedule_cutoff_minutes": 120, "assignment": "least_loaded", "active": True,
        }
    return {
        **{f: getattr(service, f) for f in schemas.Service.__struct_fields__ if f not in ("price", "requirements")},
        "price": {"amount": service.price.amount},
        "requirements": [{"kind": r.kind, "skills": r.skills, "count": r.count} for r in service.requirements],
    }


def _resource_values(resource: schemas.Resource) -> dict[str, Any]:
    return {
        "name": resource.name, "skills": resource.skills, "capacity": resource.capacity, "active": resource.active,
        "post_use_lock_minutes": resource.post_use_lock_minutes,
    }


def _schedule_values(schedule: schemas.Schedule) -> dict[str, Any]:
    return {
        "weekly": {d: [list(i) for i in v] for d, v in schedule.weekly.items()},
        "exceptions": [{"date": e.date.isoformat(), "hours": ", ".join(f"{a}-{b}" for a, b in e.intervals)} for e in schedule.exceptions],
    }


def _posted_schedule(form: FormMultiDict) -> dict[str, Any]:
    """What was typed into the schedule editor, row for row (blank rows too, so messages stay on their
    row), to show again with the messages."""
    weekly = {
        day: [[r["start"], r["end"]] for _, r in rows(form, f"weekly.{day}", ("start", "end"), keep_blank=True)]
        for day in schemas.WEEKDAYS
    }
    return {"weekly": weekly, "exceptions": [r for _, r in rows(form, "exceptions", ("date", "hours"), keep_blank=True)]}
