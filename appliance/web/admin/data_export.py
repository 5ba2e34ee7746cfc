"""The owner's full export: started from the page, which fetches the existing export API (streamed, audited
as data.exported) and saves the archive; the exports made before are read from the audit log, since
archives are never kept on the appliance."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from appliance.audit import queries as audit_queries
from appliance.audit.schemas import AuditEntry
from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.web.admin.form_support import BUSINESS_ZONE
from appliance.web.admin.shell import admin_page
from appliance.web.templating import AnyRequest

PAST_EXPORTS = 20


class DataExportPage(Controller):
    path = "/admin/export"
    include_in_schema = False

    @get("/", opt=requires(Permission.data_export))
    async def export(self, request: AnyRequest) -> Template:
        past: list[AuditEntry] = []
        if actor_of(request).can(Permission.audit_read):
            past, _ = await audit_queries.list_entries(
                audit_queries.EntryFilter(action="data.exported"), after=None, limit=PAST_EXPORTS
            )
        return admin_page(request, "admin/export/export.html", {"past": past, "zone": BUSINESS_ZONE}, section="export")
