"""Report pages: the catalogue, one report with its filters (errors inline, in the reader's language), its
table with the report's own numbers, and download links that carry the same filters — on both engines."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.reports.catalogue import REPORTS
from appliance.reports.files import XLSX_TYPE
from appliance.reports.logic import parse_query
from appliance.reports.queries import run_report
from appliance.testing.builders import make_user
from tests.appliance.web.report_seed import shop_with_bookings
from tests.appliance.web.test_admin_shell import sign_in_with_the_form


def downloads(page: str) -> dict[str, str]:
    links = [html.unescape(h) for h in re.findall(r'href="(/api/v1/reports/[^"]+)"', page)]
    return {parse_qs(urlsplit(link).query)["format"][0]: link for link in links}


async def test_the_catalogue_lists_every_report_in_the_readers_language(client: httpx.AsyncClient) -> None:
    await make_user("manager", Role.manager)
    await sign_in_with_the_form(client, "manager")

    chinese = (await client.get("/admin/reports")).text
    english = (await client.get("/admin/reports?lang=en")).text

    for report in REPORTS.values():
        assert f'href="/admin/reports/{report.name}"' in chinese
        assert report.title_zh in chinese and html.escape(report.title_en) in english


async def test_a_report_page_shows_the_reports_numbers_and_downloads_with_the_same_filters(client: httpx.AsyncClient) -> None:
    shop = await shop_with_bookings()
    await make_user("manager", Role.manager, branch_id=shop.branch_id)
    await sign_in_with_the_form(client, "manager")
    today = datetime.now(ZoneInfo(shop.timezone)).date()
    first = today - timedelta(days=20)
    filters = {"from": first.isoformat(), "to": today.isoformat(), "bucket": "week", "branch_id": str(shop.branch_id)}

    response = await client.get("/admin/reports/volume", params={**filters, "lang": "en"})

    assert response.status_code == 200
    table = await run_report(parse_query("volume", from_=filters["from"], to=filters["to"], bucket="week",
                                         branch_id=filters["branch_id"], format_=None), actor=cli_actor())
    body = response.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    assert len(rows) == len(table.rows) > 0
    for row, expected in zip(rows, table.rows):
        cells = re.findall(r"<td>(.*?)</td>", row)
        assert cells[0] == expected["period"] and cells[1] == str(expected["bookings"])
    assert 'data-chart="' in response.text

    links = downloads(response.text)
    assert set(links) == {"csv", "xlsx"}
    for fmt, content_type in (("csv", "text/csv; charset=utf-8"), ("xlsx", XLSX_TYPE)):
        query = {k: v[0] for k, v in parse_qs(urlsplit(links[fmt]).query).items()}
        assert query == {**filters, "format": fmt}
        download = await client.get(links[fmt])
        assert download.status_code == 200 and download.headers["content-type"] == content_type
    csv_text = (await client.get(links["csv"])).content.decode("utf-8-sig")
    assert len(csv_text.strip().splitlines()) == len(table.rows) + 1


async def test_a_wrong_filter_is_said_next_to_its_input_in_the_readers_language(client: httpx.AsyncClient) -> None:
    await make_user("manager", Role.manager)
    await sign_in_with_the_form(client, "manager")

    chinese = await client.get("/admin/reports/volume?from=2026-05-10&to=2026-05-01")
    english = await client.get("/admin/reports/volume?from=2026-05-10&to=2026-05-01&lang=en")
    not_a_date = await client.get("/admin/reports/customer_sources?from=soon&to=2026-05-01&lang=en")

    assert chinese.status_code == 422
    assert re.search(r'id="to"[^>]*aria-invalid="true" aria-describedby="to-error"', chinese.text)
    assert 'id="to-error">结束日期不能早于开始日期。' in chinese.text
    assert 'id="to-error">The end must not be before the start.' in english.text
    assert not_a_date.status_code == 422 and 'id="from-error">This is not a date (YYYY-MM-DD).' in not_a_date.text
    assert "/api/v1/reports/" not in chinese.text  # no downloads of a report that could not be made


async def test_reports_are_for_roles_that_may_read_them(client: httpx.AsyncClient) -> None:
    await make_user("front", Role.front_desk)
    await make_user("manager", Role.manager)

    await sign_in_with_the_form(client, "front")
    assert (await client.get("/admin/reports")).status_code == 403
    assert (await client.get("/admin/reports/volume")).status_code == 403
    client.cookies.clear()

    await sign_in_with_the_form(client, "manager")
    assert (await client.get("/admin/reports/no-such-report")).status_code == 404
    default = await client.get("/admin/reports/retention_cohorts")
    assert default.status_code == 200 and 'name="bucket"' not in default.text
