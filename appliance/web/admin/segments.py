"""Saved customer segments: listed with how many customers each matches now, written as a filter form
(tags, tiers, points, visits, spend, last visit, source, consent) and deleted, through the segment actions.
Rules test a segment by its key (`customer.segments`); the customers list filters by it."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from litestar import Controller, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath
from litestar.response import Template

from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.errors import AppError
from appliance.customers import queries, schemas, segments
from appliance.customers.logic import CONSENT_PURPOSES, SegmentFilter
from appliance.web.admin.form_support import BUSINESS_ZONE
from appliance.web.admin.formdata import convert, field_errors, money_minor, text, words, yuan
from appliance.web.admin.shell import admin_page, go_to
from appliance.web.templating import AnyRequest, texts_for

BASE = "/admin/customers/segments"
RANGES = ("points", "visit_count")
DAYS = ("last_visit_after", "last_visit_before")
ZONE = ZoneInfo(BUSINESS_ZONE)


def _day(value: datetime | None) -> str:
    return value.astimezone(ZONE).date().isoformat() if value else ""


def _consent(recorded: bool | None) -> str:
    return "" if recorded is None else ("agreed" if recorded else "refused")


def values_of(found: SegmentFilter) -> dict[str, Any]:
    """A saved filter as the form's inputs (money in yuan, instants as days in the business's zone)."""
    values: dict[str, Any] = {
        "tags_all": ", ".join(found.tags_all), "tags_any": ", ".join(found.tags_any), "tiers": list(found.tiers),
        "source_channels": ", ".join(found.source_channels),
        "lifetime_value_min": "" if found.lifetime_value_min is None else yuan(found.lifetime_value_min),
        "lifetime_value_max": "" if found.lifetime_value_max is None else yuan(found.lifetime_value_max),
        **{f"consent.{p}": _consent(found.consent.get(p)) for p in CONSENT_PURPOSES},
        **{day: _day(getattr(found, day)) for day in DAYS},
    }
    for name in RANGES:
        for end in ("min", "max"):
            given = getattr(found, f"{name}_{end}")
            values[f"{name}_{end}"] = "" if given is None else str(given)
    return values


def filter_of(form: FormMultiDict) -> dict[str, Any]:
    """The posted inputs as a filter body (what the API takes); text that is no number or day is passed
    on, so the check names it."""
    body: dict[str, Any] = {
        "tags_all": words(text(form, "tags_all")), "tags_any": words(text(form, "tags_any")),
        "tiers": [str(t) for t in form.getall("tiers", [])], "source_channels": words(text(form, "source_channels")),
        "consent": {p: form.get(f"consent.{p}") == "agreed" for p in CONSENT_PURPOSES
                    if form.get(f"consent.{p}") in ("agreed", "refused")},
    }
    for name in RANGES:
        for end in ("min", "max"):
            if given := text(form, f"{name}_{end}"):
                body[f"{name}_{end}"] = given
    for end in ("min", "max"):
        if given := text(form, f"lifetime_value_{end}"):
            body[f"lifetime_value_{end}"] = money_minor(given)
    for day in DAYS:
        if given := text(form, day):
            try:
                body[day] = datetime.combine(date.fromisoformat(given), time(), ZONE).isoformat()
            except ValueError:
                body[day] = given
    return body


def _form_values(form: FormMultiDict) -> dict[str, Any]:
    """What was typed, to show again with the messages."""
    values: dict[str, Any] = {k: text(form, k) for k in form if k not in ("tiers", "_csrf")}
    values["tiers"] = [str(t) for t in form.getall("tiers", [])]
    return values


class SegmentPages(Controller):
    path = BASE
    include_in_schema = False

    @get("/", opt=requires(Permission.customers_read))
    async def list_segments(self, request: AnyRequest) -> Template:
        found = await queries.list_segments()
        counts = {s.id: await queries.count_segment(s.filter) for s in found}
        return admin_page(request, "admin/customers/segments.html", {"segments": found, "counts": counts},
                          section="customers")

    async def _page(self, request: AnyRequest, *, segment: schemas.Segment | None, values: dict[str, Any],
                    error: AppError | None = None) -> Template:
        errors, problem = field_errors(texts_for(request), error, lambda key: key.removeprefix("filter.")) \
            if error else ({}, None)
        programme = await queries.get_programme()
        context = {
            "segment": segment, "values": values, "errors": errors, "problem": problem, "tiers": programme.tiers,
            "purposes": CONSENT_PURPOSES, "zone": BUSINESS_ZONE,
            "count": await queries.count_segment(segment.filter) if segment else None,
            "may_write": actor_of(request).can(Permission.customers_write),
        }
        name = "admin/customers/_segment_form.html" if error else "admin/customers/segment.html"
        return admin_page(request, name, context, section="customers", status=error.status if error else 200)

    @get("/new", opt=requires(Permission.customers_write))
    async def new_segment(self, request: AnyRequest) -> Template:
        return await self._page(request, segment=None, values={"key": "", "name": "", **values_of(SegmentFilter())})

    @post("/", opt=requires(Permission.customers_write))
    async def create_segment(self, request: AnyRequest) -> Response[Any]:
        form = await request.form()
        body = {"key": text(form, "key", 64), "name": text(form, "name", 200), "filter": filter_of(form)}
        try:
            created = await segments.create_segment(convert(body, schemas.SegmentCreate), actor=actor_of(request))
        except AppError as error:
            return await self._page(request, segment=None, values=_form_values(form), error=error)
        return go_to(request, f"{BASE}/{created.id}")

    @get("/{segment_id:uuid}", opt=requires(Permission.customers_read))
    async def segment(self, request: AnyRequest, segment_id: FromPath[UUID]) -> Template:
        found = await queries.get_segment(segment_id)
        return await self._page(request, segment=found,
                                values={"key": found.key, "name": found.name, **values_of(found.filter)})

    @post("/{segment_id:uuid}", opt=requires(Permission.customers_write))
    async def update_segment(self, request: AnyRequest, segment_id: FromPath[UUID]) -> Response[Any]:
        found = await queries.get_segment(segment_id)
        form = await request.form()
        body = {"name": text(form, "name", 200), "filter": filter_of(form)}
        try:
            await segments.update_segment(segment_id, convert(body, schemas.SegmentUpdate), actor=actor_of(request))
        except AppError as error:
            return await self._page(request, segment=found, values={**_form_values(form), "key": found.key}, error=error)
        return go_to(request, f"{BASE}/{segment_id}")

    @post("/{segment_id:uuid}/delete", opt=requires(Permission.customers_write))
    async def delete_segment(self, request: AnyRequest, segment_id: FromPath[UUID]) -> Response[Any]:
        """Rules that test the key then match nobody by it; the customers keep everything."""
        await segments.delete_segment(segment_id, actor=actor_of(request))
        return go_to(request, BASE)

