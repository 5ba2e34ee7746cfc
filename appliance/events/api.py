"""JSON API for operators: deliveries (what was sent to which subscriber, what is stuck or dead) and the
re-send of a dead one. Deliveries span every branch, so a branch-scoped grant is not enough."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK

from appliance.auth.actor import Actor
from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.errors import Forbidden
from appliance.core.pagination import DEFAULT_LIMIT, Page, check_limit, decode_instant_cursor, encode_instant_cursor
from appliance.events import actions, queries, schemas


def operator(request: AnyRequest, permission: Permission) -> Actor:
    """The caller, when it holds `permission` in every branch (deliveries are not a branch's)."""
    actor = actor_of(request)
    if actor.branch_scope(permission) is not None:
        raise Forbidden(f"deliveries span every branch: this needs {permission.value} in all of them")
    return actor


class DeliveryController(Controller):
    path = "/api/v1/deliveries"
    tags = ["automation"]

    @get("/", opt=requires(Permission.automation_read))
    async def list_deliveries(
        self, request: AnyRequest, status: FromQuery[schemas.DeliveryStatus | None] = None,
        subscriber: FromQuery[str | None] = None, event_type: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[schemas.Delivery]:
        """Newest first; `status=dead` lists the dead letters."""
        operator(request, Permission.automation_read)
        items, last = await queries.list_deliveries(
            queries.DeliveryFilter(status=status, subscriber=subscriber, event_type=event_type),
            after=decode_instant_cursor(cursor), limit=check_limit(limit),
        )
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @get("/{delivery_id:uuid}", opt=requires(Permission.automation_read))
    async def get_delivery(self, request: AnyRequest, delivery_id: FromPath[UUID]) -> schemas.DeliveryDetail:
        """One delivery with every attempt."""
        operator(request, Permission.automation_read)
        return await queries.get_delivery(delivery_id)

    @post("/{delivery_id:uuid}/resend", opt=requires(Permission.automation_write), status_code=HTTP_200_OK)
    async def resend(self, request: AnyRequest, delivery_id: FromPath[UUID]) -> schemas.DeliveryDetail:
        """Try a dead (or done) delivery again from the start: 409 while it is still being tried."""
        return await actions.resend_delivery(delivery_id, actor=operator(request, Permission.automation_write))
