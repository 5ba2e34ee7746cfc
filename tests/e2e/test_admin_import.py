"""A manager uploads a customer list in the import wizard: the guessed columns are shown, the dry run
lists the bad row, and the page follows the job by polling. The page passes axe-core and is kept as a
screenshot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect

from appliance.auth.roles import Role
from tests.e2e.conftest import SignedIn, screenshot, serious_accessibility_problems

CSV = "客户姓名,联系电话\n赵敏,13700137000\n钱坤,not a phone\n".encode("utf-8-sig")


def test_a_manager_checks_a_customer_file(signed_in: Callable[..., SignedIn], tmp_path: Path) -> None:
    page = signed_in(Role.manager).page
    upload = tmp_path / "客户.csv"
    upload.write_bytes(CSV)

    page.goto("/admin/import?lang=en")
    page.get_by_label("CSV or XLSX file").set_input_files(upload)
    page.get_by_role("button", name="Read the columns").click()
    expect(page.get_by_label("Phone *")).to_have_value("联系电话")
    page.get_by_role("button", name="Check the file (dry run)").click()

    expect(page.locator("tr.row-problem")).to_contain_text("not a valid phone number")
    expect(page.get_by_role("link", name="Download every problem (errors.csv)")).to_be_visible()
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-import")
