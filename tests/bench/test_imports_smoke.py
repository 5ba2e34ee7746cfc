"""The import benchmark's quick mode on PostgreSQL: what must hold on any machine, never how fast."""

from __future__ import annotations

import io

from tests.bench import imports
from tests.bench.imports import FIGURE_NAMES, QUICK


def test_quick_run_imports_every_row_once_and_prints_every_figure() -> None:
    out, log = io.StringIO(), io.StringIO()

    result = imports.run(QUICK, out=out, log=log)

    text = out.getvalue()
    assert result.problems == [], text + log.getvalue()  # every row stored once; the second run changed nothing
    assert result.value("rows") == QUICK.rows
    missing = [name for name in FIGURE_NAMES if f"postgresql {name}=" not in text]
    assert missing == [], text
