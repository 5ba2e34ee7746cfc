"""JSON API for notifications: templates (list, edit, reset, preview against a booking), the signed-in
user's inbox, customers' opt-outs, and the public unsubscribe link."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from appliance.auth.api import AnyRequest, actor_of, user_id_of
from appliance.auth.guards import AUTHENTICATED, PUBLIC, requires
from appliance.auth.roles import Permission
from appliance.core.pagination import DEFAULT_LIMIT, Page, check_limit, decode_instant_cursor, encode_instant_cursor
from appliance.customers.queries import check_customer_in_reach
from appliance.notifications import consent, editing, inbox, queries, schemas

TEMPLATE = "/{key:str}/{channel:str}/{locale:str}"


class TemplateController(Controller):
    path = "/api/v1/notification-templates"
    tags = ["notifications"]

    @get("/", opt=requires(Permission.automation_read))
    async def list_templates(self) -> list[schemas.NotificationTemplate]:
        """Every template by key, channel and locale, built-in or edited, with the variables it may use."""
        return await queries.list_templates()

    @get(TEMPLATE, opt=requires(Permission.automation_read))
    async def get_template(self, key: FromPath[str], channel: FromPath[str], locale: FromPath[str]) -> schemas.NotificationTemplate:
        return await queries.get_template(key, channel, locale)

    @put(TEMPLATE, opt=requires(Permission.automation_write))
    async def save_template(
        self, request: AnyRequest, key: FromPath[str], channel: FromPath[str], locale: FromPath[str],
        data: JSONBody[schemas.TemplateBody],
    ) -> schemas.NotificationTemplate:
        """Use this version instead of the built-in one; it must render against sample values (else 422)."""
        return await editing.save_template(key, channel, locale, data, actor=actor_of(request))

    @delete(TEMPLATE, opt=requires(Permission.automation_write), status_code=HTTP_204_NO_CONTENT)
    async def reset_template(self, request: AnyRequest, key: FromPath[str], channel: FromPath[str], locale: FromPath[str]) -> None:
        """Back to the built-in version."""
        await editing.reset_template(key, channel, locale, actor=actor_of(request))

    @post("/preview", opt=requires(Permission.automation_read), status_code=HTTP_200_OK)
    async def preview(self, request: AnyRequest, data: JSONBody[schemas.TemplatePreview]) -> schemas.RenderedPreview:
        """A template in use, or a draft, rendered against a real booking. Changes nothing."""
        return await queries.preview_template(data, actor=actor_of(request))


class InboxController(Controller):
    path = "/api/v1/inbox"
    tags = ["notifications"]
    opt = AUTHENTICATED  # everyone has an inbox and sees only their own

    @get("/")
    async def list_inbox(
        self, request: AnyRequest, unread: FromQuery[bool] = False, cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[schemas.InboxItem]:
        """Newest first; `unread=true` leaves out what was read."""
        items, last = await inbox.list_inbox(
            user_id_of(request), unread_only=unread, after=decode_instant_cursor(cursor), limit=check_limit(limit)
        )
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @post("/{item_id:uuid}/read", status_code=HTTP_200_OK)
    async def mark_read(self, request: AnyRequest, item_id: FromPath[UUID]) -> schemas.InboxItem:
        return await inbox.mark_read(item_id, user_id=user_id_of(request))


class OptOutController(Controller):
    path = "/api/v1/customers/{customer_id:uuid}/opt-outs"
    tags = ["notifications"]

    @get("/", opt=requires(Permission.customers_read))
    async def list_opt_outs(self, request: AnyRequest, customer_id: FromPath[UUID]) -> schemas.OptOuts:
        """The channels the customer gets no messages on."""
        await check_customer_in_reach(customer_id, actor=actor_of(request), permission=Permission.customers_read)
        return await queries.opt_outs(customer_id)

    @put("/{channel:str}", opt=requires(Permission.customers_write))
    async def opt_out(self, request: AnyRequest, customer_id: FromPath[UUID], channel: FromPath[str]) -> schemas.OptOuts:
        """No more messages on this channel (audited)."""
        actor = actor_of(request)
        await check_customer_in_reach(customer_id, actor=actor, permission=Permission.customers_write)
        await consent.opt_out(customer_id, channel, actor=actor)
        return await queries.opt_outs(customer_id)

    @delete("/{channel:str}", opt=requires(Permission.customers_write), status_code=HTTP_200_OK)
    async def opt_in(self, request: AnyRequest, customer_id: FromPath[UUID], channel: FromPath[str]) -> schemas.OptOuts:
        """Messages on this channel may reach the customer again (audited)."""
        actor = actor_of(request)
        await check_customer_in_reach(customer_id, actor=actor, permission=Permission.customers_write)
        await consent.opt_in(customer_id, channel, actor=actor)
        return await queries.opt_outs(customer_id)


class UnsubscribeController(Controller):
    path = "/api/v1/portal/unsubscribe"
    tags = ["portal"]
    opt = {**PUBLIC, "rate_limited": "portal"}

    @get("/{token:str}")
    async def view(self, token: FromPath[str]) -> schemas.Unsubscribed:
        """Which channel the link stops and whether it has; changes nothing (mail scanners follow links)."""
        return await consent.unsubscribe_status(token)

    @post("/{token:str}", status_code=HTTP_200_OK)
    async def unsubscribe(self, request: AnyRequest, token: FromPath[str]) -> schemas.Unsubscribed:
        """Opt out of the link's channel; also the RFC 8058 one-click POST of mail clients (any body)."""
        actor = actor_of(request)
        return await consent.unsubscribe(token, ip=actor.ip, request_id=actor.request_id)
