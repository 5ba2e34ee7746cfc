"""The wheel: both packages, the migrations, the console script; the lock matches pyproject."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_both_packages_migrations_and_the_console_script(tmp_path: Path) -> None:
    [wheel] = list(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()

    migrations = sorted(p.name for p in (ROOT / "appliance/db/migrations").glob("*.py"))
    assert {f"appliance/db/migrations/{m}" for m in migrations} <= names
    assert {"appliance/app.py", "appliance/cli.py", "appliance/settings.py", "integrations/__init__.py"} <= names
    assert "appliance = appliance.cli:main" in entry_points
    assert not any(n.startswith("tests/") for n in names)
    # Pages work from the wheel alone: templates, catalogs, our stylesheet and the vendored scripts with their licences.
    assert {
        "appliance/web/templates/base.html", "appliance/web/locale/zh_CN/LC_MESSAGES/messages.po", "appliance/web/static/app.css",
        "appliance/web/static/vendor/htmx.min.js", "appliance/web/static/vendor/htmx.org.LICENSE.txt",
    } <= names
    assert not any(n.startswith("appliance/web/assets/") for n in names)  # npm manifests stay in the repository
    assert not any(n.startswith("appliance/web/static/vendor/axe") for n in names)  # the browser tests' checker only


def test_lock_file_is_current() -> None:
    beside_python = Path(sys.executable).parent / "uv"
    uv = str(beside_python) if beside_python.exists() else shutil.which("uv")
    assert uv, "uv is installed by the README's commands"
    command = [uv]
    result = subprocess.run([*command, "lock", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr


def test_fixed_stack_has_lower_bounds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {d.split("[")[0].split(">")[0].split("<")[0].strip(): d for d in project["dependencies"]}

    for name in ("litestar", "piccolo", "dramatiq", "redis", "authlib", "cryptography", "structlog"):
        assert ">=" in declared[name], name
