"""Refresh appliance/web/static/vendor/ from the npm packages pinned in appliance/web/assets/.

Run `python scripts/vendor_assets.py` after changing package.json (and `npm install --package-lock-only`
to update the lock). It runs `npm ci` on the lock, copies each package's minified dist files and its
licence into static/vendor/, and leaves node_modules behind only in the ignored assets directory.
The copied files are committed, so installing the appliance never needs Node.js.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "appliance" / "web" / "assets"
VENDOR = ROOT / "appliance" / "web" / "static" / "vendor"

# package -> (files under the package to copy, the name each gets in static/vendor/)
FILES: dict[str, list[tuple[str, str]]] = {
    "htmx.org": [("dist/htmx.min.js", "htmx.min.js")],
    "@alpinejs/csp": [("dist/cdn.min.js", "alpine-csp.min.js")],
    "echarts": [("dist/echarts.min.js", "echarts.min.js")],
    "@event-calendar/build": [
        ("dist/event-calendar.min.js", "event-calendar.min.js"),
        ("dist/event-calendar.min.css", "event-calendar.min.css"),
    ],
    "axe-core": [("axe.min.js", "axe.min.js")],  # browser tests only; never referenced by a page
}
LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license")


def licence_text(package_dir: Path, meta: dict[str, object]) -> str:
    for name in LICENCE_NAMES:
        if (package_dir / name).is_file():
            return (package_dir / name).read_text(encoding="utf-8")
    # Some packages (alpinejs) ship no licence file; name the licence their package.json declares.
    return f"{meta['name']} {meta['version']}: licensed under {meta.get('license')} (see package.json; no licence file shipped).\n"


def main() -> int:
    subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=ASSETS, check=True)
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    VENDOR.mkdir(parents=True)
    manifest: dict[str, str] = {}
    for package, files in FILES.items():
        package_dir = ASSETS / "node_modules" / package
        meta = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
        manifest[package] = meta["version"]
        for source, target in files:
            shutil.copyfile(package_dir / source, VENDOR / target)
        stem = package.replace("@", "").replace("/", "-")
        (VENDOR / f"{stem}.LICENSE.txt").write_text(licence_text(package_dir, meta), encoding="utf-8")
    (VENDOR / "versions.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"vendored {len(manifest)} packages into {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
