"""How report tables show: cells in the reader's language, and the charts drawn from them (pure)."""

from __future__ import annotations

from datetime import date

from appliance.reports.catalogue import REPORTS
from appliance.reports.schemas import Cell, ReportTable
from appliance.web.admin.report_views import chart_of, column_title, format_cell, last_months
from appliance.web.i18n import Texts

EN, ZH = Texts("en"), Texts("zh-CN")


def table(name: str, rows: list[dict[str, Cell]], bucket: str | None = None,
          first: date = date(2026, 1, 1), last: date = date(2026, 3, 31)) -> ReportTable:
    report = REPORTS[name]
    return ReportTable(name=name, title_zh=report.title_zh, title_en=report.title_en, from_=first, to=last,
                       bucket=bucket, branch_ids=[], columns=[c.key for c in report.columns], rows=rows)


def test_a_revenue_chart_has_every_month_of_the_period_and_a_series_per_currency_in_major_units() -> None:
    revenue = table("revenue_by_period", [
        {"period": "2026-02-01", "currency": "CNY", "bookings": 2, "revenue": 39600},
        {"period": "2026-02-01", "currency": "HKD", "bookings": 1, "revenue": 10000},
    ], bucket="month")

    chart = chart_of(revenue, EN)

    assert chart is not None and chart.kind == "bar"
    assert chart.labels == ["2026-01", "2026-02", "2026-03"]
    assert [(s.name, s.data) for s in chart.series] == [
        ("Revenue (CNY)", [0.0, 396.0, 0.0]), ("Revenue (HKD)", [0.0, 100.0, 0.0]),
    ]
    assert not chart.empty


def test_a_chart_of_nothing_is_empty_and_cohorts_have_no_chart() -> None:
    assert chart_of(table("volume", [], bucket="week"), EN).empty  # type: ignore[union-attr]
    assert chart_of(table("retention_cohorts", []), EN) is None


def test_sources_are_named_as_staff_say_them_and_the_dashboard_takes_the_first_rows() -> None:
    sources = chart_of(table("customer_sources", [
        {"source": "wechat", "customers": 3, "bookings": 5, "share": 0.75},
        {"source": "", "customers": 1, "bookings": 1, "share": 0.25},
    ]), ZH, rows=1)

    assert sources is not None and sources.labels == ["微信"] and sources.series[0].data == [3.0]


def test_cells_show_money_rates_and_gaps_in_the_readers_language() -> None:
    columns = {c.key: c for c in REPORTS["staff_performance"].columns}
    row: dict[str, Cell] = {"currency": "CNY", "revenue": 19800, "no_show_rate": 0.125, "average_rating": None}

    assert format_cell(19800, columns["revenue"], row, EN) == "CN¥198.00"
    assert format_cell(0.125, columns["no_show_rate"], row, EN) == "12.5%"
    assert format_cell(None, columns["average_rating"], row, EN) == "—"
    assert column_title(columns["revenue"], ZH) == "收入" and column_title(columns["revenue"], EN) == "Revenue"


def test_the_last_twelve_months_start_on_the_first_of_the_eleventh_month_before() -> None:
    period = last_months(date(2026, 3, 15), 12)
    assert (period.first, period.last) == (date(2025, 4, 1), date(2026, 3, 15))
