"""The signed-in staff member's own inbox: messages the appliance sent them (approvals waiting, rule
notices), newest first, marked read one by one. Everyone has one and sees only their own."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Template

from appliance.auth.api import user_id_of
from appliance.auth.guards import AUTHENTICATED
from appliance.notifications import inbox
from appliance.web.admin.form_support import BUSINESS_ZONE
from appliance.web.admin.shell import admin_page
from appliance.web.templating import AnyRequest

PAGE_SIZE = 50


class InboxPages(Controller):
    path = "/admin/inbox"
    include_in_schema = False

    @get("/", opt=AUTHENTICATED)
    async def items(self, request: AnyRequest) -> Template:
        """The newest messages (`?unread=1`: those not read yet)."""
        unread = request.query_params.get("unread") == "1"
        found, more = await inbox.list_inbox(user_id_of(request), unread_only=unread, after=None, limit=PAGE_SIZE)
        context: dict[str, Any] = {"items": found, "unread": unread, "more": more is not None, "zone": BUSINESS_ZONE}
        return admin_page(request, "admin/inbox/items.html", context, section="inbox")

    @post("/{item_id:uuid}/read", opt=AUTHENTICATED)
    async def mark_read(self, request: AnyRequest, item_id: FromPath[UUID]) -> Template:
        """Answers with the item's row, now read."""
        item = await inbox.mark_read(item_id, user_id=user_id_of(request))
        return admin_page(request, "admin/inbox/_item.html", {"item": item, "zone": BUSINESS_ZONE}, section="inbox")
