"""The audit benchmark's quick mode on each engine: what must hold on any machine, never how fast."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from tests.bench import audit_verify
from tests.bench.audit_verify import COUNT_FIGURES, FIGURE_NAMES, QUICK

SMOKE = replace(QUICK, entries=1_500)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_quick_run_verifies_the_export_names_the_edited_entry_and_prints_every_figure(engine: str) -> None:
    out, log = io.StringIO(), io.StringIO()

    [result] = audit_verify.run([engine], SMOKE, out=out, log=log)

    text = out.getvalue()
    figures = {f.name: f.value for f in result.figures}
    assert result.problems == [], text + log.getvalue()
    assert figures["entries"] == SMOKE.entries
    assert {name: figures[name] for name in COUNT_FIGURES if figures[name] <= 0} == {}
    missing = [name for name in FIGURE_NAMES if f"{engine} {name}=" not in text]
    assert missing == [], text


def test_the_national_suite_runs_with_sm3() -> None:
    out, log = io.StringIO(), io.StringIO()

    [result] = audit_verify.run(["sqlite"], replace(SMOKE, entries=300, hash_name="sm3"), out=out, log=log)

    assert result.problems == [], out.getvalue() + log.getvalue()
    assert "300 audit entries, sm3" in out.getvalue()
