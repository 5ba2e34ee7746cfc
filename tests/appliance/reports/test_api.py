"""GET /api/v1/reports and /api/v1/reports/{name}: JSON, CSV and XLSX downloads, parameters checked, access
by the reports.read permission per branch — on both engines."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx
import pytest
from openpyxl import load_workbook

from appliance.auth.roles import Role
from appliance.reports.catalogue import REPORTS
from appliance.testing.builders import sign_in_as
from tests.bench.report_history import ReportCatalog, plan_history, seed_catalog, write_history

PERIOD = {"from": "2026-02-01", "to": "2026-03-31"}


async def _seeded() -> ReportCatalog:
    catalog = await seed_catalog()
    await write_history(plan_history(
        catalog, 300, 60, start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC), seed=3
    ))
    return catalog


async def test_the_list_names_every_report_with_titles_and_parameters(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner", Role.owner)

    response = await client.get("/api/v1/reports")

    assert response.status_code == 200, response.text
    body = {r["name"]: r for r in response.json()}
    assert set(body) == set(REPORTS)
    assert body["volume"]["title_zh"] == "预约量趋势" and body["volume"]["title_en"] == "Booking volume"
    assert [p["name"] for p in body["volume"]["parameters"]] == ["from", "to", "bucket", "branch_id", "format"]
    assert "bucket" not in [p["name"] for p in body["revenue_by_service"]["parameters"]]
    assert [c["key"] for c in body["cancellations"]["columns"]][:2] == ["period", "bookings"]


async def test_every_report_answers_as_json_csv_and_xlsx(client: httpx.AsyncClient) -> None:
    await _seeded()
    await sign_in_as(client, "owner", Role.owner)

    for name, report in REPORTS.items():
        as_json = await client.get(f"/api/v1/reports/{name}", params={**PERIOD, "bucket": "month"})
        as_csv = await client.get(f"/api/v1/reports/{name}", params={**PERIOD, "format": "csv"})
        as_xlsx = await client.get(f"/api/v1/reports/{name}", params={**PERIOD, "format": "xlsx"})

        assert as_json.status_code == 200, as_json.text
        table = as_json.json()
        assert table["columns"] == [c.key for c in report.columns] and table["rows"], name
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.headers["content-disposition"] == f'attachment; filename="{name}_2026-02-01_2026-03-31.csv"'
        assert as_csv.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
        lines = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert lines[0] == [f"{c.title_zh} ({c.title_en})" for c in report.columns]
        assert len(lines) == len(table["rows"]) + 1
        assert as_xlsx.status_code == 200
        sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
        assert sheet.max_row == len(table["rows"]) + 1 and sheet.max_column == len(report.columns)


async def test_text_that_looks_like_a_formula_is_neutralised_in_downloads(client: httpx.AsyncClient) -> None:
    await _seeded()  # one service per branch is named "=服务…"
    await sign_in_as(client, "owner", Role.owner)

    as_json = (await client.get("/api/v1/reports/service_popularity", params=PERIOD)).json()
    as_csv = await client.get("/api/v1/reports/service_popularity", params={**PERIOD, "format": "csv"})
    as_xlsx = await client.get("/api/v1/reports/service_popularity", params={**PERIOD, "format": "xlsx"})

    formulas = sorted(r["service"] for r in as_json["rows"] if r["service"].startswith("="))
    assert formulas  # JSON gives the name as it is
    csv_names = sorted(line[2] for line in csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))) if "服务" in line[2])
    assert [n for n in csv_names if n.startswith("'")] == ["'" + f for f in formulas]
    assert not any(n.startswith("=") for n in csv_names)
    cells = [c for row in load_workbook(io.BytesIO(as_xlsx.content)).active.iter_rows() for c in row]
    assert sorted(c.value for c in cells if isinstance(c.value, str) and c.value.startswith("'=")) == ["'" + f for f in formulas]
    assert not any(c.data_type == "f" for c in cells)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-03-31"}, "from"),
        ({"from": "2026-02-30", "to": "2026-03-31"}, "from"),
        ({"from": "2026-02-01"}, "to"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
        ({**PERIOD, "bucket": "hour"}, "bucket"),
        ({**PERIOD, "branch_id": "nope"}, "branch_id"),
        ({**PERIOD, "branch_id": "00000000-0000-4000-8000-000000000000"}, "branch_id"),
        ({**PERIOD, "format": "pdf"}, "format"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(client: httpx.AsyncClient, params: dict[str, str], field: str) -> None:
    await sign_in_as(client, "owner", Role.owner)

    response = await client.get("/api/v1/reports/volume", params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_cohorts_are_monthly_and_unknown_reports_are_404(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner", Role.owner)

    weekly = await client.get("/api/v1/reports/retention_cohorts", params={**PERIOD, "bucket": "week"})
    unknown = await client.get("/api/v1/reports/nonsense", params=PERIOD)

    assert weekly.status_code == 422 and [e["field"] for e in weekly.json()["errors"]] == ["bucket"]
    assert unknown.status_code == 404


async def test_a_manager_sees_their_branch_only_and_front_desk_none(client: httpx.AsyncClient) -> None:
    catalog = await _seeded()
    own, other = list(catalog.branches)
    assert (await client.get("/api/v1/reports/volume", params=PERIOD)).status_code == 401
    await sign_in_as(client, "manager", Role.manager, branch_id=own)

    mine = await client.get("/api/v1/reports/revenue_by_branch", params=PERIOD)
    theirs = await client.get("/api/v1/reports/revenue_by_branch", params={**PERIOD, "branch_id": str(other)})

    assert mine.status_code == 200 and mine.json()["branch_ids"] == [str(own)]
    assert {r["branch_id"] for r in mine.json()["rows"]} == {str(own)}
    assert theirs.status_code == 422 and [e["field"] for e in theirs.json()["errors"]] == ["branch_id"]

    client.cookies.clear()
    await sign_in_as(client, "desk", Role.front_desk, branch_id=own)
    assert (await client.get("/api/v1/reports", params=PERIOD)).status_code == 403
    assert (await client.get("/api/v1/reports/volume", params=PERIOD)).status_code == 403
