"""The reports benchmark's quick mode on each engine: every report answers with rows and prints its figure,
never how fast."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from tests.bench import reports
from tests.bench.reports import MEASURED, QUICK

SMOKE = replace(QUICK, bookings=2_000, customers=400, staff_per_branch=3, rooms_per_branch=1, repeats=1)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_quick_run_answers_every_report_and_prints_its_figures(engine: str) -> None:
    out, log = io.StringIO(), io.StringIO()

    [result] = reports.run((engine,), SMOKE, out=out, log=log)

    text = out.getvalue()
    assert result.problems == [], text + log.getvalue()
    assert f"{engine} seed_bookings={SMOKE.bookings}" in text
    assert f"{engine} bare_aggregate_ms=" in text
    labels = [name if bucket == "month" else f"{name}_{bucket}" for name, bucket in MEASURED]
    assert [label for label in labels if f"{engine} {label}_ms=" not in text] == []
    assert all(result.rows[label] > 0 for label in labels)
