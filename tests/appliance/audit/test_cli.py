"""`appliance audit …` as an operator runs it: a real process against a real database of each engine."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.appliance.test_cli import appliance, run_env


def test_export_then_verify_then_archive_from_the_command_line(fresh_database_url: str, tmp_path: Path) -> None:
    env = run_env(tmp_path / "var", APPLIANCE_DATABASE_URL=fresh_database_url)
    assert appliance("migrate", env=env).returncode == 0
    created = appliance("user", "create", "--username", "auditor", "--role", "compliance_officer", "--password",
                        "a-long-enough-password", env=env)
    assert created.returncode == 0, created.stderr
    bundle = tmp_path / "out" / "audit.zip"

    exported = appliance("audit", "export", "--out", str(bundle), env=env)
    verified = appliance("audit", "verify", str(bundle), env={})
    archived = appliance("audit", "archive", env=env)

    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"wrote {bundle}: 1 entry (seq 1–1), checkpoint of 1 entry")
    assert verified.returncode == 0 and verified.stdout.rstrip().endswith("VERIFIED"), verified.stdout + verified.stderr
    assert archived.returncode == 0 and archived.stdout.strip() == "nothing to archive"
    keyring = tmp_path / "var" / "keyring.json"
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600


def test_verify_refuses_what_is_not_a_bundle_and_a_time_without_offset(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")

    result = appliance("audit", "verify", str(junk), env={})
    window = appliance("audit", "export", "--out", str(tmp_path / "x.zip"), "--since", "2026-11-01",
                       env=run_env(tmp_path / "var"))

    assert result.returncode == 1 and result.stderr.startswith(f"error: {junk} cannot be verified: ")
    assert window.returncode == 1 and "needs a UTC offset" in window.stderr
