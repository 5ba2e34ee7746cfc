"""The booking-statements count on each engine: it prints its figures, and the reports cost a booking one
statement (its stale mark)."""

from __future__ import annotations

import io

import pytest

from tests.bench import booking_statements


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_booking_costs_the_reports_one_statement_and_the_figures_print(engine: str) -> None:
    out = io.StringIO()

    found = booking_statements.run((engine,), out=out)[engine]

    assert found["report_statements"] == 1
    assert 0 < found["statements"] < found["handed"]
    assert [name for name in found if f"{engine} {name}=" not in out.getvalue()] == []
