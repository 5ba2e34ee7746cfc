"""Front desk finds a customer by the last four digits of the phone, opens the 360 profile and adds a
tag; the customers pages pass axe-core without serious or critical violations and are kept as
screenshots."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.customers import queries
from appliance.customers.actions import match_or_create_customer
from appliance.customers.schemas import CustomerContact
from tests.e2e.conftest import Server, SignedIn, screenshot, serious_accessibility_problems

PHONE = "+8613912345678"


async def _two_customers() -> None:
    """Two customers, as the front desk would add them (no bookings: the portal test counts those)."""
    for name, phone in (("周晓梅", PHONE), ("陈大文", "+8613987650000")):
        await match_or_create_customer(CustomerContact(name=name, phone=phone), channel="admin", actor=cli_actor())


async def _tags(phone: str) -> list[str]:
    [customer_id] = await queries.find_customer_ids(phone=phone)
    return (await queries.get_customer(customer_id, actor=cli_actor())).tags


def test_front_desk_finds_a_customer_by_the_last_four_digits_and_tags_them(
    signed_in: Callable[..., SignedIn], server: Server
) -> None:
    server.run(_two_customers())
    page = signed_in(Role.front_desk).page

    page.goto("/admin/customers")
    assert serious_accessibility_problems(page) == []
    page.get_by_label("手机尾号").fill(PHONE[-4:])
    page.get_by_label("手机尾号").press("Enter")
    expect(page.get_by_role("link", name="周晓梅")).to_be_visible()
    expect(page.get_by_role("link", name="陈大文")).to_have_count(0)
    screenshot(page, "admin-customers")

    page.get_by_role("link", name="周晓梅").click()
    expect(page.get_by_role("heading", name="周晓梅", level=1)).to_be_visible()
    page.get_by_label("新标签").fill("常客")
    page.get_by_role("button", name="添加标签").click()
    expect(page.locator("ul.tags")).to_contain_text("常客")
    assert server.run(_tags(PHONE)) == ["常客"]
    assert serious_accessibility_problems(page) == []
    screenshot(page, "admin-customer")
