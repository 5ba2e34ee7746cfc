"""A compliance officer filters the audit log and exports it; the downloaded bundle verifies with the
project's own verifier. The page passes axe-core and is kept as a screenshot."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from appliance.auth.roles import Role
from tests.e2e.conftest import ROOT, SignedIn, screenshot, serious_accessibility_problems


def test_a_compliance_officer_exports_the_audit_log(signed_in: Callable[..., SignedIn], tmp_path: Path) -> None:
    officer = signed_in(Role.compliance_officer)
    page = officer.page

    page.goto("/admin/audit?lang=en")
    page.get_by_label("Action").fill("auth.*")
    page.get_by_role("button", name="Show entries").click()
    expect(page.locator("tr.entry").first).to_contain_text("auth.logged_in")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-audit")

    page.get_by_role("button", name="Export bundle").click()
    link = page.get_by_role("link", name="Download")
    expect(link).to_be_visible()
    with page.expect_download() as arrived:
        link.click()
    bundle = tmp_path / arrived.value.suggested_filename
    arrived.value.save_as(bundle)

    verified = subprocess.run(
        [sys.executable, "-m", "appliance", "audit", "verify", str(bundle)], cwd=ROOT, capture_output=True, text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VERIFIED" in verified.stdout
    assert bundle.name.startswith("audit-export-") and bundle.suffix == ".zip"
