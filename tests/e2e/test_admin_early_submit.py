"""A staff member who submits a form before htmx has loaded (a slow link, a quick hand) loses nothing and
leaks nothing: the submit is held, not sent natively as a GET with the typed text in the URL, and goes out
through htmx once it is ready; a click on an htmx button is held and replayed the same way."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Request, Route, expect

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.customers import queries
from appliance.customers.actions import match_or_create_customer
from appliance.customers.schemas import CustomerContact
from tests.e2e.conftest import Server, SignedIn

PHONE = "+8613911112222"
TAG = "早到的标签"


async def _customer() -> str:
    customer_id = await match_or_create_customer(CustomerContact(name="林小雨", phone=PHONE), channel="admin",
                                                 actor=cli_actor())
    return str(customer_id)


async def _tags() -> list[str]:
    [customer_id] = await queries.find_customer_ids(phone=PHONE)
    return (await queries.get_customer(customer_id, actor=cli_actor())).tags


def test_a_form_submitted_before_htmx_loads_is_held_then_sent(
    signed_in: Callable[..., SignedIn], server: Server
) -> None:
    customer_id = server.run(_customer())
    page = signed_in(Role.front_desk).page
    held: list[Route] = []

    def hold(route: Route) -> None:  # htmx stays on the wire until released below
        held.append(route)

    page.route("**/vendor/htmx.min.js*", hold)
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))

    page.goto(f"/admin/customers/{customer_id}", wait_until="commit")
    page.get_by_label("新标签").fill(TAG)
    page.get_by_role("button", name="添加标签").click()
    page.wait_for_timeout(500)  # room for a native submit to leave, were it not held
    assert held, "htmx was requested and is still held"
    assert [r.url for r in sent if r.method == "GET" and "?" in r.url and r.resource_type == "document"] == []
    assert server.run(_tags()) == []

    held[0].continue_()
    expect(page.locator("ul.tags")).to_contain_text(TAG)
    assert server.run(_tags()) == [TAG]
    assert page.url.endswith(f"/admin/customers/{customer_id}")

    # An htmx button (not a form) clicked early is replayed too.
    page.goto(f"/admin/customers/{customer_id}", wait_until="commit")
    page.get_by_role("button", name=f"移除标签 {TAG}").click()
    page.wait_for_timeout(500)
    assert len(held) == 2 and server.run(_tags()) == [TAG]
    held[1].continue_()
    expect(page.locator("ul.tags")).to_have_count(0)  # the only tag is gone
    assert server.run(_tags()) == []
