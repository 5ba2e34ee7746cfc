"""Languages in Chromium: zh-CN unless the browser or the visitor asks for English; the switcher in the admin
bar turns every later admin page English (a cookie), and the portal follows the browser's language. In
English, no Chinese text is left in the places a person reads first (headings, navigation, labels, buttons,
table heads); the seeded business's own names (静安店, 王芳) are data and may stay."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from appliance.auth.roles import Role
from tests.e2e.conftest import Server, SignedIn

CHINESE = re.compile(r"[\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]")
# What a page says in its own words, not the business's data.
KEY_PLACES = "h1, h2, nav.side a, header.admin-bar a.brand, label, button, th, legend"
ADMIN_PAGES = ("/admin/", "/admin/bookings", "/admin/customers", "/admin/catalog/", "/admin/automation/", "/admin/reports")
PORTAL_KEY_PLACES = "h1, h2, label, button, legend, nav a"
SEEDED_NAMES = ("静安店", "王芳", "李娜", "精油按摩", "足疗")  # the business's data (conftest's seed), not page text


def chinese_in_key_places(page: Page, places: str = KEY_PLACES) -> list[str]:
    # A text marked as another language (the switcher's 中文) is meant to be in it.
    texts: list[str] = page.locator(places).evaluate_all(
        "nodes => nodes.filter(n => n.closest('[lang]') === document.documentElement).map(n => n.innerText.trim())"
    )
    return [text for text in texts if CHINESE.search(re.sub("|".join(SEEDED_NAMES), "", text))]


def test_the_admin_ui_is_chinese_by_default_and_english_after_the_switcher(
    signed_in: Callable[..., SignedIn],
) -> None:
    page = signed_in(Role.manager).page

    page.goto("/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("navigation", name="功能菜单")).to_be_visible()

    page.get_by_role("navigation", name="语言").get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    for path in ADMIN_PAGES:  # the choice holds on every later page, without ?lang=
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("main h1").first).to_be_visible()
        assert chinese_in_key_places(page) == [], path


def test_a_browser_in_another_language_gets_chinese_and_an_english_one_gets_english(
    new_page: Callable[..., Page], server: Server,
) -> None:
    french = new_page(locale="fr-FR")
    french.goto("/admin/login")
    expect(french.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(french.get_by_role("heading", name="登录")).to_be_visible()

    english = new_page(locale="en-GB")
    english.goto("/admin/login")
    expect(english.get_by_role("heading", name="Sign in")).to_be_visible()
    assert chinese_in_key_places(english) == []


def test_the_portal_is_english_for_an_english_browser_from_branches_to_a_services_dates(
    new_page: Callable[..., Page], server: Server,
) -> None:
    page = new_page(locale="en-US")

    page.goto("/portal/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert chinese_in_key_places(page, PORTAL_KEY_PLACES) == []
    page.goto(f"/portal/branches/{server.seed.branch_id}")
    assert chinese_in_key_places(page, PORTAL_KEY_PLACES) == []
    page.goto(f"/portal/services/{server.seed.massage_id}")
    expect(page.locator("h1")).to_be_visible()
    assert chinese_in_key_places(page, PORTAL_KEY_PLACES) == []

    chinese = new_page(locale="zh-CN")
    chinese.goto("/portal/")
    expect(chinese.locator("html")).to_have_attribute("lang", "zh-CN")
    assert chinese_in_key_places(chinese, PORTAL_KEY_PLACES) != []
