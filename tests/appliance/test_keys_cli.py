"""`appliance keys init|status|rotate [--blind-index]|seal` as an operator runs them: real processes, a real database."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from appliance.auth.actor import cli_actor
from appliance.core import db
from appliance.customers.actions import match_or_create_customer
from appliance.customers.schemas import CustomerContact
from appliance.db import open_database
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]


def keys(*args: str, database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env |= {"APPLIANCE_DATABASE_URL": database_url, "APPLIANCE_DATA_DIR": str(data_dir), "APPLIANCE_LOG_LEVEL": "warning"}
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180,
        check=False,
    )


async def test_init_status_rotate_and_seal(fresh_database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    run = lambda *args: keys(*args, database_url=fresh_database_url, data_dir=data_dir)  # noqa: E731

    missing = run("keys", "status")
    init = run("keys", "init")
    again = run("keys", "init")
    migrated = run("migrate")
    open_database(make_settings(fresh_database_url, data_dir))  # the same key ring as the commands
    await db.start_pool()
    for n in range(3):
        await match_or_create_customer(
            CustomerContact(name=f"客户{n}", phone=f"1390000{n:04d}"), channel="staff", actor=cli_actor()
        )
    await db.close_pool()
    status = run("keys", "status")
    rotated = run("keys", "rotate", "--batch", "2")
    after = run("keys", "status")
    sealed = run("keys", "seal")
    reindexed = run("keys", "rotate", "--blind-index", "--batch", "2")
    after_reindex = run("keys", "status")

    assert missing.returncode == 1 and "no key ring" in missing.stderr and "appliance keys init" in missing.stderr
    assert init.returncode == 0, init.stderr
    keyring = data_dir / "keyring.json"
    assert f"created {keyring} (mode 0600)" in init.stdout and stat.S_IMODE(keyring.stat().st_mode) == 0o600
    first_key = re.search(r"data key\s+([0-9a-f]{8})", init.stdout)
    assert first_key and "signing key" in init.stdout and "blind-index key" in init.stdout
    assert again.returncode == 1 and "never overwritten" in again.stderr
    assert migrated.returncode == 0, migrated.stderr
    assert status.returncode == 0, status.stderr
    assert f"data key         {first_key[1]}" in status.stdout and "(seals now)" in status.stdout
    assert "suite: aes-256-gcm" in status.stdout and "every sealed value is under the current key" in status.stdout
    assert rotated.returncode == 0, rotated.stderr
    assert "customer: 2/3 rows, 2 re-sealed" in rotated.stdout and "customer: 3/3 rows, 3 re-sealed" in rotated.stdout
    new_key = re.search(r"data key ([0-9a-f]{8}) seals now; 3 row\(s\) re-sealed", rotated.stdout)
    assert new_key and new_key[1] != first_key[1]
    assert f"{new_key[1]}  created" in after.stdout and after.stdout.count("data key") == 2
    assert "every sealed value is under the current key" in after.stdout
    assert sealed.returncode == 0 and "0 sealed (0 from plaintext)" in sealed.stdout, sealed.stdout + sealed.stderr
    assert reindexed.returncode == 0, reindexed.stderr
    assert "customer: 2/3 rows, 2 re-indexed" in reindexed.stdout and "customer: 3/3 rows, 3 re-indexed" in reindexed.stdout
    index_key = re.search(r"blind-index key ([0-9a-f]{8}) indexes now; 3 row\(s\) re-indexed", reindexed.stdout)
    first_index_key = re.search(r"blind-index key\s+([0-9a-f]{8})", init.stdout)
    assert index_key and first_index_key and index_key[1] != first_index_key[1]
    assert "previous blind-index key is removed" in reindexed.stdout
    assert f"blind-index key  {index_key[1]}" in after_reindex.stdout and first_index_key[1] not in after_reindex.stdout
    assert "unfinished" not in after_reindex.stdout
