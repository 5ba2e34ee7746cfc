"""The dashboard's charts render with data in Chromium, and the dashboard, the reports and the account
page pass axe-core without serious or critical violations; each is kept as a screenshot."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from appliance.auth.roles import Role
from tests.appliance.web.report_seed import Shop, shop_with_bookings
from tests.e2e.conftest import Server, SignedIn, screenshot, serious_accessibility_problems

CHARTS = 5


@pytest.fixture(scope="module")
def shop(server: Server) -> Shop:
    """A branch of its own (bookings later today, and completed ones over the past weeks)."""
    found: Shop = server.run(shop_with_bookings("报表演示店"))
    return found


def check(page: Page, name: str) -> None:
    assert serious_accessibility_problems(page) == [], name
    screenshot(page, name)


def test_the_dashboard_charts_render_with_data(signed_in: Callable[..., SignedIn], shop: Shop) -> None:
    page = signed_in(Role.owner).page

    page.goto(f"/admin/?branch_id={shop.branch_id}")
    page.wait_for_function(f"() => document.querySelectorAll('[data-chart] canvas').length === {CHARTS}")

    points = page.evaluate(
        """() => [...document.querySelectorAll('[data-chart]')].map(
               el => echarts.getInstanceByDom(el).getOption().series[0].data.length)"""
    )
    assert len(points) == CHARTS and all(n > 0 for n in points)
    check(page, "admin-dashboard")


def test_the_reports_and_the_account_page_are_accessible(signed_in: Callable[..., SignedIn], shop: Shop) -> None:
    page = signed_in(Role.owner).page

    page.goto("/admin/reports")
    check(page, "admin-reports")

    page.goto(f"/admin/reports/revenue_by_period?branch_id={shop.branch_id}")
    page.wait_for_function("() => document.querySelector('[data-chart] canvas') !== null")
    check(page, "admin-report")

    page.goto("/admin/account")
    check(page, "admin-account")
