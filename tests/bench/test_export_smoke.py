"""The export benchmark's quick mode on PostgreSQL: what must hold on any machine, never how fast."""

from __future__ import annotations

import io

from tests.bench import export
from tests.bench.export import FIGURE_NAMES, QUICK


def test_quick_run_exports_every_booking_and_prints_every_figure() -> None:
    out, log = io.StringIO(), io.StringIO()

    result = export.run(QUICK, out=out, log=log)

    text = out.getvalue()
    figures = {f.name: f.value for f in result.figures}
    assert result.problems == [], text + log.getvalue()
    assert figures["rows"] >= QUICK.bookings + QUICK.bookings // 5  # bookings and their customers at least
    assert figures["archive_mb"] > figures["small_archive_mb"] > 0
    missing = [name for name in FIGURE_NAMES if f"postgresql {name}=" not in text]
    assert missing == [], text
