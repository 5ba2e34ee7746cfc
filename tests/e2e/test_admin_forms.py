"""A manager adds booking questions to a service from its page with the keyboard-usable form editor: a
choice without options is named at its input, a second question is asked only for hot water, then the
saved questions (with that condition) are what the portal is served, and its booking page asks the
second question only while the first is answered "hot". The
editor passes axe-core and is kept as a screenshot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from appliance.auth.roles import Role
from tests.e2e.conftest import Server, SignedIn, screenshot, serious_accessibility_problems


def test_a_manager_adds_booking_questions_to_a_service(signed_in: Callable[..., SignedIn], server: Server) -> None:
    page = signed_in(Role.manager).page

    page.goto(f"/admin/catalog/services/{server.seed.foot_id}?lang=en")
    page.get_by_role("link", name="Add booking questions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Booking questions for 足疗")
    page.get_by_label("Form name (staff see it)").fill("足疗问卷")
    first = page.get_by_role("group", name="Question 1")
    first.get_by_label("Key (a-z, 0-9, _)").fill("water")
    first.get_by_label("Answer type").select_option("single_select")
    first.get_by_label("Question in Chinese").fill("水温")
    first.get_by_label("Question in English").fill("Water temperature")
    first.get_by_label("An answer is required").check()
    second = page.get_by_role("group", name="Question 2")
    second.get_by_label("Key (a-z, 0-9, _)").fill("why_hot")
    second.get_by_label("Answer type").select_option("text")
    second.get_by_label("Question in Chinese").fill("为什么要热水")
    second.get_by_label("Longest text (characters)").fill("80")
    other = second.get_by_label("Other question")
    other.focus()  # offers the keys typed so far
    other.select_option("water")
    second.get_by_label("Its answer").select_option("eq")
    second.get_by_label("Value (several: comma separated; yes/no: true or false)").fill("hot")
    page.get_by_role("button", name="Save form").click()

    options = page.get_by_role("group", name="Question 1").get_by_label("Options")
    expect(options).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#fields\\[0\\]-options-error")).to_have_text("Give at least one option, one a line.")
    options.fill("warm = 温 / Warm\nhot = 热 / Hot")
    expect(page.get_by_role("group", name="Question 2").get_by_label("Other question")).to_have_value("water")
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-form-editor")
    page.get_by_role("button", name="Save form").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("足疗问卷")
    expect(page.get_by_text("Version 1.")).to_be_visible()
    asked = page.request.get(f"/api/v1/portal/services/{server.seed.foot_id}/form").json()
    fields = asked["fields"]
    assert [(f["key"], f.get("required", False), [o["value"] for o in f.get("options", [])]) for f in fields] == [
        ("water", True, ["warm", "hot"]), ("why_hot", False, [])]
    assert (fields[1]["visible_if"], fields[1]["max_length"]) == (
        {"field": "water", "op": "eq", "value": "hot"}, 80)

    # The portal's details page asks the second question only while the first is answered "hot".
    start = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    page.goto(f"/portal/services/{server.seed.foot_id}/book?" + urlencode({"start": start.isoformat(), "lang": "zh-CN"}))
    why = page.get_by_label("为什么要热水")
    expect(page.get_by_label("热", exact=True)).to_be_visible()
    expect(why).to_be_hidden()
    page.get_by_label("热", exact=True).check()
    expect(why).to_be_visible()
    page.get_by_label("温", exact=True).check()
    expect(why).to_be_hidden()
    page.goto("/admin/catalog/forms?lang=en")
    expect(page.locator("tr.form-row", has_text="足疗问卷")).to_contain_text("足疗")
    assert serious_accessibility_problems(page) == []
