"""`appliance reports rebuild` as an operator runs it: a real process against a real SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.appliance.test_cli import run_env


def _appliance(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args], env=run_env(data_dir), capture_output=True, text=True, timeout=120,
        check=False, cwd=Path(__file__).parents[3],
    )


def test_rebuild_refuses_pending_migrations_then_rebuilds(tmp_path: Path) -> None:
    refused = _appliance("reports", "rebuild", data_dir=tmp_path)
    assert refused.returncode == 1 and "pending" in refused.stderr

    assert _appliance("migrate", data_dir=tmp_path).returncode == 0
    rebuilt = _appliance("reports", "rebuild", data_dir=tmp_path)

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "report rollups rebuilt" in rebuilt.stdout
