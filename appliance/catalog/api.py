"""JSON API for the catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.catalog import actions, queries, schemas
from appliance.core.pagination import DEFAULT_LIMIT, Page, aware_instant, check_limit, decode_id_cursor, id_page



class BranchController(Controller):
    path = "/api/v1/branches"
    tags = ["catalog"]

    @post("/", opt=requires(Permission.branches_write))
    async def create_branch(self, request: AnyRequest, data: JSONBody[schemas.BranchCreate]) -> schemas.Branch:
        return await actions.create_branch(data, actor=actor_of(request))

    @get("/", opt=requires(Permission.branches_read))
    async def list_branches(
        self, request: AnyRequest, cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT
    ) -> Page[schemas.Branch]:
        items, last = await queries.list_branches(actor=actor_of(request), after=decode_id_cursor(cursor), limit=check_limit(limit))
        return id_page(items, last)

    @get("/{branch_id:uuid}", opt=requires(Permission.branches_read))
    async def get_branch(self, request: AnyRequest, branch_id: FromPath[UUID]) -> schemas.Branch:
        return await queries.get_branch(branch_id, actor=actor_of(request))

    @patch("/{branch_id:uuid}", opt=requires(Permission.branches_write))
    async def update_branch(self, request: AnyRequest, branch_id: FromPath[UUID], data: JSONBody[schemas.BranchUpdate]) -> schemas.Branch:
        return await actions.update_branch(branch_id, data, actor=actor_of(request))


class ResourceController(Controller):
    path = "/api/v1/resources"
    tags = ["catalog"]

    @post("/", opt=requires(Permission.catalog_write))
    async def create_resource(self, request: AnyRequest, data: JSONBody[schemas.ResourceCreate]) -> schemas.Resource:
        return await actions.create_resource(data, actor=actor_of(request))

    @get("/", opt=requires(Permission.catalog_read))
    async def list_resources(
        self,
        request: AnyRequest,
        branch_id: FromQuery[UUID | None] = None,
        kind: FromQuery[schemas.ResourceKind | None] = None,
        active: FromQuery[bool | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[schemas.Resource]:
        items, last = await queries.list_resources(
            actor=actor_of(request), branch_id=branch_id, kind=kind, active=active, after=decode_id_cursor(cursor),
            limit=check_limit(limit),
        )
        return id_page(items, last)

    @get("/{resource_id:uuid}", opt=requires(Permission.catalog_read))
    async def get_resource(self, request: AnyRequest, resource_id: FromPath[UUID]) -> schemas.Resource:
        return await queries.get_resource(resource_id, actor=actor_of(request))

    @patch("/{resource_id:uuid}", opt=requires(Permission.catalog_write))
    async def update_resource(
        self, request: AnyRequest, resource_id: FromPath[UUID], data: JSONBody[schemas.ResourceUpdate]
    ) -> schemas.Resource:
        """Rename, change skills, capacity or post-use lock, or deactivate with `"active": false`."""
        return await actions.update_resource(resource_id, data, actor=actor_of(request))

    @get("/{resource_id:uuid}/schedule", opt=requires(Permission.catalog_read))
    async def get_schedule(self, request: AnyRequest, resource_id: FromPath[UUID]) -> schemas.Schedule:
        return await queries.get_schedule(resource_id, actor=actor_of(request))

    @put("/{resource_id:uuid}/schedule", opt=requires(Permission.catalog_write), status_code=HTTP_200_OK)
    async def set_schedule(
        self, request: AnyRequest, resource_id: FromPath[UUID], data: JSONBody[schemas.Schedule]
    ) -> schemas.Schedule:
        """Replace the weekly hours, dated exceptions and recurring blocks (local time of the branch)."""
        return await actions.set_resource_schedule(resource_id, data, actor=actor_of(request))

    @post("/{resource_id:uuid}/time-off", opt=requires(Permission.catalog_write))
    async def add_time_off(
        self, request: AnyRequest, resource_id: FromPath[UUID], data: JSONBody[schemas.TimeOffCreate]
    ) -> schemas.TimeOff:
        return await actions.add_time_off(resource_id, data, actor=actor_of(request))

    @get("/{resource_id:uuid}/time-off", opt=requires(Permission.catalog_read))
    async def list_time_off(
        self,
        request: AnyRequest,
        resource_id: FromPath[UUID],
        from_: Annotated[datetime | None, QueryParameter(name="from")] = None,
        to: FromQuery[datetime | None] = None,
    ) -> list[schemas.TimeOff]:
        """Time off overlapping [from, to) (either bound may be left out), earliest first."""
        return await queries.list_time_off(
            resource_id, actor=actor_of(request), ends_after=aware_instant("from", from_), starts_before=aware_instant("to", to)
        )

    @delete("/{resource_id:uuid}/time-off/{time_off_id:uuid}", opt=requires(Permission.catalog_write))
    async def remove_time_off(self, request: AnyRequest, resource_id: FromPath[UUID], time_off_id: FromPath[UUID]) -> None:
        await actions.remove_time_off(resource_id, time_off_id, actor=actor_of(request))


class ServiceController(Controller):
    path = "/api/v1/services"
    tags = ["catalog"]

    @post("/", opt=requires(Permission.catalog_write))
    async def create_service(self, request: AnyRequest, data: JSONBody[schemas.ServiceCreate]) -> schemas.Service:
        return await actions.create_service(data, actor=actor_of(request))

    @get("/", opt=requires(Permission.catalog_read))
    async def list_services(
        self,
        request: AnyRequest,
        branch_id: FromQuery[UUID | None] = None,
        active: FromQuery[bool | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[schemas.Service]:
        items, last = await queries.list_services(
            actor=actor_of(request), branch_id=branch_id, active=active, after=decode_id_cursor(cursor), limit=check_limit(limit)
        )
        return id_page(items, last)

    @get("/{service_id:uuid}", opt=requires(Permission.catalog_read))
    async def get_service(self, request: AnyRequest, service_id: FromPath[UUID]) -> schemas.Service:
        return await queries.get_service(service_id, actor=actor_of(request))

    @patch("/{service_id:uuid}", opt=requires(Permission.catalog_write))
    async def update_service(
        self, request: AnyRequest, service_id: FromPath[UUID], data: JSONBody[schemas.ServiceUpdate]
    ) -> schemas.Service:
        """Change a service; the merged result must pass the same checks as a new one."""
        return await actions.update_service(service_id, data, actor=actor_of(request))
