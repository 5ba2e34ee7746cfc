"""JSON API of the reports: the list, and one report as JSON or as a CSV/XLSX download."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import FromPath, Parameter

from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.reports import files
from appliance.reports.catalogue import REPORTS, Report
from appliance.reports.logic import MAX_DAYS, parse_query
from appliance.reports.queries import run_report
from appliance.reports.schemas import ReportColumn, ReportInfo, ReportParameter, ReportTable

Text = str | None


def _parameters(report: Report) -> list[ReportParameter]:
    found = [
        ReportParameter("from", True, "first local date, YYYY-MM-DD, in each booking's branch's time zone"),
        ReportParameter("to", True, f"last local date, inclusive; at most {MAX_DAYS} days after from"),
        ReportParameter("branch_id", False, "one branch; default every branch you may report on"),
        ReportParameter("format", False, "json (default), csv or xlsx"),
    ]
    if report.bucketed:
        found.insert(2, ReportParameter("bucket", False, "day, week (ISO, from Monday) or month (default)"))
    return found


def _info(report: Report) -> ReportInfo:
    return ReportInfo(
        name=report.name, title_zh=report.title_zh, title_en=report.title_en, parameters=_parameters(report),
        columns=[ReportColumn(c.key, c.title_zh, c.title_en, c.kind) for c in report.columns],
    )


class ReportController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]

    @get("/", opt=requires(Permission.reports_read))
    async def list_reports(self) -> list[ReportInfo]:
        """Every report, with its titles in zh-CN and en, its parameters and its columns."""
        return [_info(r) for r in REPORTS.values()]

    @get("/{name:str}", opt=requires(Permission.reports_read))
    async def answer(
        self, request: AnyRequest, name: FromPath[str],
        from_: Annotated[Text, Parameter(query="from")] = None, to: Text = None, bucket: Text = None,
        branch_id: Text = None, format_: Annotated[Text, Parameter(query="format")] = None,
    ) -> Response[ReportTable] | Response[bytes]:
        """One report over local dates from..to (inclusive) of the branches you may report on, or of one."""
        query = parse_query(name, from_=from_, to=to, bucket=bucket, branch_id=branch_id, format_=format_)
        table = await run_report(query, actor=actor_of(request))
        if query.format == "json":
            return Response(table)
        content, media_type = (
            (files.as_csv(table), files.CSV_TYPE) if query.format == "csv" else (files.as_xlsx(table), files.XLSX_TYPE)
        )
        disposition = f'attachment; filename="{files.filename(table, query.format)}"'
        return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})
