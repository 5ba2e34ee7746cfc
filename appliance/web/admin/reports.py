"""Reports /admin/reports: the catalogue, and one report with its filters, table, chart and downloads
(the downloads are the reports API's own CSV and XLSX answers, with the same filters)."""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlencode

from litestar import Controller, get
from litestar.params import FromPath, Parameter
from litestar.response import Template

from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.clock import utc_now
from appliance.core.errors import Invalid, NotFound
from appliance.reports.catalogue import BUCKETS, REPORTS
from appliance.reports.logic import MAX_DAYS, parse_query
from appliance.reports.queries import run_report
from appliance.web.admin.dashboard import local_today, readable_branches
from appliance.web.admin.report_views import chart_of, column_title, format_cell, last_months, report_title
from appliance.web.admin.shell import admin_page
from appliance.web.i18n import N_, Texts
from appliance.web.templating import AnyRequest, texts_for

Text = str | None
DEFAULT_MONTHS: Final = 3

BUCKET_LABELS: Final = {"day": N_("Day"), "week": N_("Week"), "month": N_("Month")}

# The reports API's field messages (reports.logic), as the reader's language says them.
FILTER_MESSAGES: Final = {
    "required: a date YYYY-MM-DD": N_("Enter a date."),
    "not a date YYYY-MM-DD": N_("This is not a date (YYYY-MM-DD)."),
    "must not be before from": N_("The end must not be before the start."),
    f"at most {MAX_DAYS} days after from": N_("At most three years from the start."),
    "one of day, week, month": N_("Choose day, week or month."),
    "retention cohorts are monthly": N_("This report is monthly only."),
    "not a UUID": N_("Choose a branch from the list."),
    "no such branch among those you may report on": N_("Choose a branch from the list."),
}


def filter_errors(error: Invalid, texts: Texts) -> dict[str, str]:
    return {field: texts.gettext(FILTER_MESSAGES.get(message, message)) for field, message in error.fields.items()}


class ReportPages(Controller):
    path = "/admin/reports"
    include_in_schema = False

    @get("/", opt=requires(Permission.reports_read))
    async def catalogue(self, request: AnyRequest) -> Template:
        texts = texts_for(request)
        listed = [{"name": name, "title": report_title(name, texts)} for name in REPORTS]
        return admin_page(request, "admin/reports/list.html", {"reports": listed}, section="reports")

    @get("/{name:str}", opt=requires(Permission.reports_read))
    async def report(
        self, request: AnyRequest, name: FromPath[str],
        from_: Annotated[Text, Parameter(query="from")] = None, to: Text = None, bucket: Text = None,
        branch_id: Text = None,
    ) -> Template:
        """The report over the chosen period (by default the last three months), as a table and a chart."""
        report = REPORTS.get(name)
        if report is None:
            raise NotFound("no such report")
        actor, texts = actor_of(request), texts_for(request)
        branches = [b for b in await readable_branches(actor) if actor.can(Permission.reports_read, b.id)]
        if from_ is None and to is None:
            period = last_months(local_today(branches[0].timezone if branches else "Asia/Shanghai", utc_now()), DEFAULT_MONTHS)
            from_, to = period.first.isoformat(), period.last.isoformat()
        filters = {"from": from_ or "", "to": to or "", "bucket": (bucket or "month") if report.bucketed else "",
                   "branch_id": branch_id or ""}
        context: dict[str, object] = {
            "report": report, "title": report_title(name, texts), "filters": filters, "branches": branches,
            "buckets": [(b, BUCKET_LABELS[b]) for b in BUCKETS], "errors": {}, "table": None, "chart": None,
            "columns": [], "rows": [], "downloads": {},
        }
        try:
            query = parse_query(name, from_=from_, to=to, bucket=filters["bucket"] or None, branch_id=branch_id,
                                format_=None)
            table = await run_report(query, actor=actor)
        except Invalid as error:
            context["errors"] = filter_errors(error, texts)
            return admin_page(request, "admin/reports/report.html", context, section="reports", status=error.status)
        wanted = {k: v for k, v in filters.items() if v}
        context.update(
            table=table, chart=chart_of(table, texts),
            columns=[column_title(c, texts) for c in report.columns],
            rows=[[format_cell(row.get(c.key), c, row, texts) for c in report.columns] for row in table.rows],
            downloads={f: f"/api/v1/reports/{name}?{urlencode({**wanted, 'format': f})}" for f in ("csv", "xlsx")},
        )
        return admin_page(request, "admin/reports/report.html", context, section="reports")
