"""The dashboard /admin/: one branch's day (its bookings and approvals waiting) and, for those who may
read reports, its key figures and charts — all from the bookings, approvals and reports queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from uuid import UUID
from zoneinfo import ZoneInfo

from litestar import Controller, get
from litestar.params import FromQuery
from litestar.response import Template

from appliance.auth.actor import Actor
from appliance.auth.api import actor_of
from appliance.auth.guards import AUTHENTICATED
from appliance.auth.roles import Permission
from appliance.automation import queries as approvals
from appliance.automation.schemas import Approval
from appliance.bookings.queries import BookingFilter, list_bookings
from appliance.catalog import queries as catalog
from appliance.catalog.schemas import Branch
from appliance.core.clock import utc_now
from appliance.customers.queries import names_of
from appliance.customers.reveals import record_listed
from appliance.reports.logic import parse_query, rate
from appliance.reports.queries import run_report
from appliance.reports.schemas import ReportTable
from appliance.web.admin.report_views import (
    Chart, Period, chart_of, last_days, last_months, month_so_far, today_only,
)
from appliance.web.admin.shell import admin_page
from appliance.web.i18n import N_, Texts
from appliance.web.templating import AnyRequest, texts_for

MANY: Final = 500  # more branches, services or staff than one page lists
DAY_LIMIT: Final = 200  # bookings of one branch's day shown
APPROVALS_SHOWN: Final = 10
TOP_SERVICES: Final = 10

STATUS_LABELS: Final = {
    "pending_approval": N_("Awaiting approval"), "confirmed": N_("Confirmed"), "checked_in": N_("Checked in"),
    "completed": N_("Completed"), "cancelled": N_("Cancelled"), "no_show": N_("No-show"), "rejected": N_("Rejected"),
}


@dataclass(frozen=True)
class AgendaRow:
    booking_id: UUID
    time: str
    service: str
    customer: str | None  # None: the role may not read customers
    staff: str
    status: str


@dataclass(frozen=True)
class Kpis:
    bookings_today: int
    revenue_month: list[str]  # one amount per currency, formatted
    new_customers_month: int
    no_show_rate_30d: str | None  # None: no bookings in the 30 days


async def readable_branches(actor: Actor) -> list[Branch]:
    branches, _ = await catalog.list_branches(actor=actor, after=None, limit=MANY)
    return sorted(branches, key=lambda b: (b.name, str(b.id)))


def _chosen(branches: list[Branch], wanted: str | None) -> Branch | None:
    return next((b for b in branches if str(b.id) == wanted), branches[0] if branches else None)


def local_today(tz: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


async def report(name: str, period: Period, branch_id: UUID, actor: Actor, bucket: str = "month") -> ReportTable:
    query = parse_query(name, from_=period.first.isoformat(), to=period.last.isoformat(), bucket=bucket,
                        branch_id=str(branch_id), format_=None)
    return await run_report(query, actor=actor)


async def kpis(branch_id: UUID, today: date, actor: Actor, texts: Texts) -> Kpis:
    day = await report("volume", today_only(today), branch_id, actor, bucket="day")
    revenue = await report("revenue_by_period", month_so_far(today), branch_id, actor)
    customers = await report("new_vs_returning", month_so_far(today), branch_id, actor)
    shows = await report("cancellations", last_days(today, 30), branch_id, actor)
    no_show_rate = rate(sum(int(r["no_show"] or 0) for r in shows.rows), sum(int(r["bookings"] or 0) for r in shows.rows))
    return Kpis(
        bookings_today=sum(int(r["bookings"] or 0) for r in day.rows),
        revenue_month=[texts.money(int(r["revenue"] or 0), str(r["currency"])) for r in revenue.rows],
        new_customers_month=sum(int(r["new"] or 0) for r in customers.rows),
        no_show_rate_30d=None if no_show_rate is None else f"{no_show_rate * 100:.1f}%",
    )


async def charts(branch_id: UUID, today: date, actor: Actor, texts: Texts) -> list[Chart]:
    recent = last_days(today, 30)
    found = [
        chart_of(await report("volume", recent, branch_id, actor, bucket="day"), texts, values=("bookings",),
                 title=texts.gettext("Bookings per day, last 30 days")),
        chart_of(await report("revenue_by_period", last_months(today, 12), branch_id, actor), texts,
                 title=texts.gettext("Revenue per month, last 12 months")),
        chart_of(await report("customer_sources", recent, branch_id, actor), texts,
                 title=texts.gettext("Where customers came from, last 30 days")),
        chart_of(await report("service_popularity", recent, branch_id, actor), texts, rows=TOP_SERVICES,
                 title=texts.gettext("Top 10 services by bookings, last 30 days")),
        chart_of(await report("staff_performance", recent, branch_id, actor), texts,
                 title=texts.gettext("Bookings and revenue per staff member, last 30 days")),
    ]
    return [c for c in found if c is not None]


async def agenda(branch: Branch, today: date, actor: Actor, texts: Texts) -> list[AgendaRow]:
    """The branch's bookings of its local `today`, with the names staff know them by."""
    start = datetime.combine(today, datetime.min.time(), ZoneInfo(branch.timezone))
    filters = BookingFilter(starts_from=start, starts_before=start + timedelta(days=1), branch_id=branch.id)
    bookings, _ = await list_bookings(filters, actor=actor, after=None, limit=DAY_LIMIT)
    services, _ = await catalog.list_services(actor=actor, branch_id=branch.id, limit=MANY)
    staff, _ = await catalog.list_resources(actor=actor, branch_id=branch.id, kind="staff", limit=MANY)
    service_names = {s.id: s.name for s in services}
    staff_names = {s.id: s.name for s in staff}
    customers = (
        await names_of([b.customer_id for b in bookings]) if actor.can(Permission.customers_read, branch.id) else None
    )
    if customers:
        await record_listed(list(customers), actor=actor, fields=("name",))  # shown, so revealed
    return [
        AgendaRow(
            booking_id=b.id, time=texts.time(b.starts_at, branch.timezone),
            service=service_names.get(b.service_id, "—"),
            customer=None if customers is None else customers.get(b.customer_id, "—"),
            staff=", ".join(staff_names[r] for r in b.resource_ids if r in staff_names) or "—",
            status=texts.gettext(STATUS_LABELS.get(b.status, b.status)),
        )
        for b in bookings
    ]


async def pending_approvals(branch_id: UUID, actor: Actor) -> list[Approval]:
    waiting = await approvals.list_approvals(actor=actor, status="pending", limit=MANY)
    return [a for a in waiting if a.branch_id == branch_id]


class DashboardPage(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/", opt=AUTHENTICATED)
    async def dashboard(self, request: AnyRequest, branch_id: FromQuery[str | None] = None) -> Template:
        """Every signed-in staff member lands here; each part shows only if the role may see it."""
        actor, texts = actor_of(request), texts_for(request)
        branches = await readable_branches(actor) if actor.can(Permission.branches_read) else []
        branch = _chosen(branches, branch_id)
        context: dict[str, object] = {"branches": branches, "branch": branch, "agenda": None, "approvals": None,
                                      "kpis": None, "charts": []}
        if branch is not None:
            today = local_today(branch.timezone, utc_now())
            context["today"] = texts.day(today)
            if actor.can(Permission.bookings_read, branch.id):
                context["agenda"] = await agenda(branch, today, actor, texts)
                context["approvals"] = await pending_approvals(branch.id, actor)
            if actor.can(Permission.reports_read, branch.id):
                context["kpis"] = await kpis(branch.id, today, actor, texts)
                context["charts"] = await charts(branch.id, today, actor, texts)
        context["approvals_shown"] = APPROVALS_SHOWN
        return admin_page(request, "admin/dashboard.html", context, section="dashboard")
