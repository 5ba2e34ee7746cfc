"""Pure parts of the reports: buckets, rates, and cells made safe for spreadsheets."""

from __future__ import annotations

from datetime import date

from appliance.reports.files import safe_cell
from appliance.reports.logic import MonthSplit, bucket_of, buckets_between, month_label, month_number, rate, split_months


def test_buckets_start_on_the_day_the_monday_or_the_first_of_the_month() -> None:
    day = date(2026, 3, 8)  # a Sunday

    assert (bucket_of(day, "day"), bucket_of(day, "week"), bucket_of(day, "month")) == (
        date(2026, 3, 8), date(2026, 3, 2), date(2026, 3, 1),
    )
    assert buckets_between(date(2026, 1, 31), date(2026, 3, 1), "month") == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert buckets_between(date(2026, 3, 4), date(2026, 3, 16), "week") == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert len(buckets_between(date(2024, 1, 1), date(2024, 12, 31), "day")) == 366


def test_months_count_across_years_and_rates_need_a_whole() -> None:
    assert month_number(date(2026, 1, 15)) - month_number(date(2025, 11, 1)) == 2
    assert month_label(month_number(date(2025, 12, 31))) == "2025-12"
    assert (rate(1, 3), rate(0, 0)) == (0.3333, None)


def test_text_that_a_spreadsheet_would_run_gets_an_apostrophe() -> None:
    for formula in ("=1+1", "+86 21", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(formula) == "'" + formula
    for plain in ("静安店", "a=b", "", None, -5, 2.5):
        assert safe_cell(plain) == plain


def test_a_period_splits_into_its_whole_months_and_the_partial_ones_at_its_ends() -> None:
    split = split_months(date(2026, 2, 10), date(2026, 4, 20))
    assert split.whole == (month_number(date(2026, 3, 1)),) * 2
    assert split.partial == ((date(2026, 2, 10), date(2026, 2, 28)), (date(2026, 4, 1), date(2026, 4, 20)))
    across = split_months(date(2025, 12, 1), date(2026, 1, 31))
    assert across == MonthSplit((month_number(date(2025, 12, 1)), month_number(date(2026, 1, 1))), ())
    assert split_months(date(2026, 1, 5), date(2026, 2, 3)) == MonthSplit(None, ((date(2026, 1, 5), date(2026, 2, 3)),))
    assert split_months(date(2024, 2, 1), date(2024, 2, 29)).whole == (month_number(date(2024, 2, 1)),) * 2
    assert split_months(date(2026, 3, 2), date(2026, 3, 31)) == MonthSplit(None, ((date(2026, 3, 2), date(2026, 3, 31)),))
