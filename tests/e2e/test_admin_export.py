"""An owner starts a full export from the page and the archive downloads; the page passes axe-core."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, screenshot, serious_accessibility_problems
from tests.e2e.ops_support import own_owner


def test_an_owner_downloads_a_full_export(new_page: Callable[..., Page], server: Server, tmp_path: Path) -> None:
    page = own_owner(new_page, server, "ops-export-owner")

    page.goto("/admin/export?lang=en")
    assert serious_accessibility_problems(page) == []
    with page.expect_download() as arrived:
        page.get_by_role("button", name="Start full export").click()
    archive = tmp_path / arrived.value.suggested_filename
    arrived.value.save_as(archive)

    assert archive.name.startswith("appliance-export-") and archive.suffix == ".zip"
    with zipfile.ZipFile(archive) as opened:
        assert "manifest.json" in opened.namelist()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    screenshot(page, "admin-export")
