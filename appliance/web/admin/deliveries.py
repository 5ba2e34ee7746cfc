"""Deliveries of events to their subscribers (notifications, rules, plugins): filtered by status, the dead
letters with their attempts, and a re-send. They span every branch, as in the API."""

from __future__ import annotations

from typing import Any, get_args
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.errors import AppError
from appliance.core.pagination import DEFAULT_LIMIT, decode_instant_cursor, encode_instant_cursor
from appliance.events import actions, queries, schemas
from appliance.events.api import operator
from appliance.web.admin.form_support import BUSINESS_ZONE
from appliance.web.admin.shell import admin_page, go_to, problem_text
from appliance.web.templating import AnyRequest, texts_for

STATUSES: tuple[str, ...] = get_args(schemas.DeliveryStatus)


class DeliveryPages(Controller):
    path = "/admin/automation/deliveries"
    include_in_schema = False

    @get("/", opt=requires(Permission.automation_read))
    async def deliveries(self, request: AnyRequest) -> Template:
        """Newest first; `?status=dead` lists the dead letters."""
        operator(request, Permission.automation_read)
        status = request.query_params.get("status", "")
        status = status if status in STATUSES else ""
        items, last = await queries.list_deliveries(
            queries.DeliveryFilter(status=status or None),
            after=decode_instant_cursor(request.query_params.get("cursor")), limit=DEFAULT_LIMIT,
        )
        return admin_page(request, "admin/automation/deliveries.html", {
            "deliveries": items, "status": status, "statuses": STATUSES, "zone": BUSINESS_ZONE,
            "next_cursor": encode_instant_cursor(last) if last else None,
        }, section="automation")

    @get("/{delivery_id:uuid}", opt=requires(Permission.automation_read))
    async def delivery(self, request: AnyRequest, delivery_id: FromPath[UUID]) -> Template:
        operator(request, Permission.automation_read)
        return await self._detail(request, delivery_id)

    async def _detail(self, request: AnyRequest, delivery_id: UUID, *, problem: str | None = None,
                      status: int = 200) -> Template:
        return admin_page(request, "admin/automation/delivery.html", {
            "delivery": await queries.get_delivery(delivery_id), "zone": BUSINESS_ZONE, "problem": problem,
        }, section="automation", status=status)

    @post("/{delivery_id:uuid}/resend", opt=requires(Permission.automation_write))
    async def resend(self, request: AnyRequest, delivery_id: FromPath[UUID]) -> Response[Any]:
        """Try a dead (or done) delivery again from the start; while it is still being tried, say so."""
        actor = operator(request, Permission.automation_write)
        try:
            await actions.resend_delivery(delivery_id, actor=actor)
        except AppError as error:
            return admin_page(request, "admin/users/_problem.html", {"problem": problem_text(texts_for(request), error)},
                              section="automation", status=error.status)
        return go_to(request, f"/admin/automation/deliveries/{delivery_id}")
