"""The dashboard: a branch's bookings of today and approvals waiting, and for those who may read reports
its key figures and charts with the numbers of the reports themselves — on both engines."""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.reports.logic import parse_query
from appliance.reports.queries import run_report
from appliance.reports.schemas import ReportTable
from appliance.testing.builders import make_branch, make_user, second_factor
from tests.appliance.web.report_seed import shop_with_bookings
from tests.appliance.web.test_admin_shell import sign_in_with_the_form


def kpi(page: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}">(.*?)</dd>', page, re.S)
    assert match is not None, name
    return re.sub(r"<[^>]+>", "", html.unescape(match.group(1))).strip()


def charts(page: str) -> list[dict[str, Any]]:
    return [json.loads(html.unescape(raw)) for raw in re.findall(r'data-chart="([^"]*)"', page)]


async def reported(name: str, first: date, last: date, branch_id: object, bucket: str = "month") -> ReportTable:
    query = parse_query(name, from_=first.isoformat(), to=last.isoformat(), bucket=bucket, branch_id=str(branch_id),
                        format_=None)
    return await run_report(query, actor=cli_actor())


async def test_the_dashboard_shows_the_days_bookings_and_the_figures_of_the_reports(client: httpx.AsyncClient) -> None:
    shop = await shop_with_bookings()
    await make_user("manager", Role.manager, branch_id=shop.branch_id)
    await sign_in_with_the_form(client, "manager")

    page = (await client.get("/admin/")).text

    today = datetime.now(ZoneInfo(shop.timezone)).date()
    day = await reported("volume", today, today, shop.branch_id, bucket="day")
    month = await reported("revenue_by_period", today.replace(day=1), today, shop.branch_id)
    customers = await reported("new_vs_returning", today.replace(day=1), today, shop.branch_id)
    assert kpi(page, "bookings_today") == str(sum(int(r["bookings"] or 0) for r in day.rows)) != "0"
    assert kpi(page, "new_customers_month") == str(sum(int(r["new"] or 0) for r in customers.rows))
    revenue = sum(int(r["revenue"] or 0) for r in month.rows)
    assert f"{revenue / 100:,.2f}" in kpi(page, "revenue_month")
    for booking_id in shop.today_ids:
        assert f'href="/admin/bookings/{booking_id}"' in page
    assert "韩梅梅" in page and "李雷" in page and "王芳" in page

    drawn = charts(page)
    assert len(drawn) == 5
    trend = await reported("volume", today - timedelta(days=29), today, shop.branch_id, bucket="day")
    assert sum(drawn[0]["series"][0]["data"]) == sum(int(r["bookings"] or 0) for r in trend.rows) > 0
    year = await reported("revenue_by_period", today - timedelta(days=400), today, shop.branch_id)
    assert sum(drawn[1]["series"][0]["data"]) * 100 == sum(int(r["revenue"] or 0) for r in year.rows
                                                           if str(r["period"]) >= drawn[1]["labels"][0])
    assert '<script src="/static/vendor/echarts.min.js"' in page and "/static/admin/charts.js" in page


async def test_front_desk_sees_the_days_bookings_but_no_figures_or_money(client: httpx.AsyncClient) -> None:
    shop = await shop_with_bookings()
    await make_user("front", Role.front_desk, branch_id=shop.branch_id)
    await sign_in_with_the_form(client, "front")

    page = (await client.get("/admin/")).text

    assert f'href="/admin/bookings/{shop.today_ids[0]}"' in page and "韩梅梅" in page
    shown = await AuditEntry.select(AuditEntry.details).where(AuditEntry.action == "customers.listed").output(load_json=True)
    assert [e["details"]["fields"] for e in shown] == [["name"]] and shown[0]["details"]["count"] >= 1  # names shown: audited
    assert "data-kpi=\"bookings_today\"" not in page and "data-chart" not in page and "echarts" not in page
    assert "¥" not in page and "CN¥" not in page


async def test_staff_see_the_day_without_customer_names_and_auditors_see_no_bookings(client: httpx.AsyncClient) -> None:
    shop = await shop_with_bookings()
    await make_user("worker", Role.staff, branch_id=shop.branch_id)
    await make_user("auditor", Role.compliance_officer)

    await sign_in_with_the_form(client, "worker")
    page = (await client.get("/admin/")).text
    assert f'href="/admin/bookings/{shop.today_ids[0]}"' in page and "韩梅梅" not in page
    assert await AuditEntry.count().where(AuditEntry.action == "customers.listed") == 0  # no names, nothing revealed
    client.cookies.clear()

    await sign_in_with_the_form(client, "auditor", code=(await second_factor("auditor"))["totp"])
    page = (await client.get("/admin/")).text
    assert "/admin/bookings/" not in page and "data-chart" not in page


async def test_a_branch_without_bookings_says_there_is_no_data_yet_and_the_selector_switches(client: httpx.AsyncClient) -> None:
    shop = await shop_with_bookings("静安店")
    empty = await make_branch("徐汇店")
    await make_user("manager", Role.manager)
    await sign_in_with_the_form(client, "manager")

    first = (await client.get("/admin/?lang=en")).text
    assert 'name="branch_id"' in first and "徐汇店" in first

    page = (await client.get(f"/admin/?branch_id={empty.id}&lang=en")).text
    assert "data-chart" not in page
    assert page.count("No data yet for this period.") == 5 and "No bookings today." in page
    assert f'href="/admin/bookings/{shop.today_ids[0]}"' not in page
    assert kpi(page, "bookings_today") == "0"
