"""How a report table shows on a page: its cells in the reader's language, and the chart that draws it. Pure.

A chart is handed to the browser as JSON in a data-chart attribute (the CSP allows no inline script);
static/admin/charts.js turns it into an ECharts option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from typing import Final, Literal

import msgspec

from appliance.reports.catalogue import BUCKETS, REPORTS, Column
from appliance.reports.logic import buckets_between
from appliance.reports.schemas import Cell, ReportTable
from appliance.web.i18n import N_, Texts

ChartKind = Literal["line", "bar", "barh", "pie"]
MISSING: Final = "—"
# Where customers came from (catalog.schemas.Channel), as staff say it; an unknown code shows as it is.
CHANNEL_LABELS: Final = {
    "web": N_("Online booking"), "admin": N_("Front desk"), "wechat": N_("WeChat"), "api": N_("Partner (API)"),
    "phone": N_("Phone"), "walk_in": N_("Walk-in"),
}


@dataclass(frozen=True)
class ChartSpec:
    """Which report columns a chart draws: one label per row (or period), one series per value column."""

    kind: ChartKind
    label: str
    values: tuple[str, ...]
    second_axis: bool = False  # the values after the first on a right-hand axis (revenue beside counts)


# The chart of each report, where one makes sense (retention cohorts read better as a table).
CHARTS: Final[dict[str, ChartSpec]] = {
    "volume": ChartSpec("line", "period", ("bookings", "completed", "cancelled", "no_show")),
    "revenue_by_period": ChartSpec("bar", "period", ("revenue",)),
    "revenue_by_service": ChartSpec("bar", "service", ("revenue",)),
    "revenue_by_staff": ChartSpec("bar", "staff", ("revenue",)),
    "revenue_by_branch": ChartSpec("bar", "branch", ("revenue",)),
    "customer_sources": ChartSpec("pie", "source", ("customers",)),
    "service_popularity": ChartSpec("barh", "service", ("bookings",)),
    "staff_performance": ChartSpec("bar", "staff", ("bookings", "revenue"), second_axis=True),
    "resource_utilisation": ChartSpec("bar", "resource", ("utilisation",)),
    "cancellations": ChartSpec("line", "period", ("cancellation_rate", "no_show_rate")),
    "new_vs_returning": ChartSpec("bar", "period", ("new", "returning")),
}


@dataclass(frozen=True)
class Series:
    name: str
    data: list[float]


@dataclass(frozen=True)
class Chart:
    kind: ChartKind
    title: str
    labels: list[str]
    series: list[Series]
    second_axis: bool = False

    @property
    def empty(self) -> bool:
        """Nothing to draw: no rows, or only zeros (a flat line at 0 reads as a broken chart)."""
        return not any(v for s in self.series for v in s.data)

    def as_json(self) -> str:
        return msgspec.json.encode(asdict(self)).decode()


@dataclass(frozen=True)
class Period:
    """Local dates, inclusive at both ends, as the reports take them."""

    first: date
    last: date


def today_only(today: date) -> Period:
    return Period(today, today)


def month_so_far(today: date) -> Period:
    return Period(today.replace(day=1), today)


def last_days(today: date, days: int) -> Period:
    return Period(today - timedelta(days=days - 1), today)


def last_months(today: date, months: int) -> Period:
    """The current month and the months - 1 before it."""
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return Period(first, today)


def column_title(column: Column, texts: Texts) -> str:
    """The column's title in the reader's language; a money column says no "(minor units)": its cells
    are shown as money."""
    title = column.title_zh if texts.locale == "zh-CN" else column.title_en
    if column.kind == "money":
        title = title.split("（", 1)[0].split(" (", 1)[0]
    return title


def report_title(name: str, texts: Texts) -> str:
    report = REPORTS[name]
    return report.title_zh if texts.locale == "zh-CN" else report.title_en


def _number(value: Cell) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def format_cell(value: Cell, column: Column, row: dict[str, Cell], texts: Texts) -> str:
    if value is None or value == "":
        return MISSING
    if column.key == "source":
        return texts.gettext(CHANNEL_LABELS.get(str(value), str(value)))
    if column.kind == "money":
        return texts.money(int(_number(value)), str(row.get("currency") or "CNY"))
    if column.kind == "rate":
        return f"{_number(value) * 100:.1f}%"
    if column.kind == "rating":
        return f"{_number(value):.1f}"
    if column.kind == "hours":
        return f"{_number(value):g}"
    return str(value)


def _chart_value(value: Cell, column: Column) -> float:
    """What a chart plots: money in major units, rates in percent."""
    if column.kind == "money":
        return round(_number(value) / 100, 2)
    if column.kind == "rate":
        return round(_number(value) * 100, 2)
    return _number(value)


def _labels(table: ReportTable, spec: ChartSpec, rows: Sequence[dict[str, Cell]]) -> list[str]:
    found = [str(r.get(spec.label) or MISSING) for r in rows]
    bucket = next((b for b in BUCKETS if b == table.bucket), None)
    if spec.label == "period" and bucket is not None:
        # Every bucket of the period, empty ones too: a revenue bar chart has no holes.
        found = [d.isoformat() for d in buckets_between(table.from_, table.to, bucket)] + found
    return list(dict.fromkeys(found))


def _shown_label(label: str, table: ReportTable, key: str, texts: Texts) -> str:
    if key == "source":
        return texts.gettext(CHANNEL_LABELS[label]) if label in CHANNEL_LABELS else label
    if key == "period" and table.bucket == "month":
        return label[:7]  # 2026-05, not 2026-05-01
    return label


def chart_of(
    table: ReportTable, texts: Texts, *, title: str | None = None, values: tuple[str, ...] | None = None,
    rows: int | None = None,
) -> Chart | None:
    """The report's chart (or None where none makes sense); `values` and the first `rows` rows narrow it
    for the dashboard. A money column gets one series per currency."""
    spec = CHARTS.get(table.name)
    if spec is None:
        return None
    spec = replace(spec, values=values or spec.values)
    chosen = table.rows[:rows] if rows is not None else table.rows
    labels = _labels(table, spec, chosen)
    columns = {c.key: c for c in REPORTS[table.name].columns}
    series: list[Series] = []
    for key in spec.values:
        column = columns[key]
        groups = sorted({str(r.get("currency") or "") for r in chosen}) if column.kind == "money" else [""]
        for currency in groups or [""]:
            sums = dict.fromkeys(labels, 0.0)
            for r in chosen:
                if column.kind != "money" or str(r.get("currency") or "") == currency:
                    sums[str(r.get(spec.label) or MISSING)] += _chart_value(r.get(key), column)
            name = column_title(column, texts) + (f" ({currency})" if len(groups) > 1 else "")
            series.append(Series(name, [round(v, 2) for v in sums.values()]))
    shown = [_shown_label(label, table, spec.label, texts) for label in labels]
    return Chart(spec.kind, title or report_title(table.name, texts), shown, series, spec.second_axis)
