"""The admin UI's shell: signing in with a form (and a second factor), the login redirect, navigation
that hides what a role may not see, CSRF on htmx posts, signing out, errors as pages — on both engines."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import httpx

from appliance.auth.roles import Role
from appliance.testing.builders import DEFAULT_PASSWORD, make_user, second_factor

ORIGIN = {"Origin": "https://testserver"}


def nav(html: str) -> list[str]:
    side = html.split('<nav class="side"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<a href="(/admin/[^"]*)"', side)


def csrf_of(html: str) -> str:
    match = re.search(r'"X-CSRF-Token": "([^"]*)"', html)
    assert match is not None
    return match.group(1)


async def sign_in_with_the_form(client: httpx.AsyncClient, username: str, **extra: str) -> httpx.Response:
    form = {"username": username, "password": DEFAULT_PASSWORD, "next": "/admin/customers", **extra}
    return await client.post("/admin/login", data=form, headers=ORIGIN)


async def test_a_stranger_is_sent_to_the_login_form_and_comes_back_after_signing_in(client: httpx.AsyncClient) -> None:
    await make_user("front", Role.front_desk)

    away = await client.get("/admin/?day=2026-12-01")
    assert away.status_code == 303
    target = parse_qs(urlsplit(away.headers["location"]).query)["next"][0]
    assert urlsplit(target).path.rstrip("/") == "/admin" and urlsplit(target).query == "day=2026-12-01"

    form = await client.get(away.headers["location"])
    assert 'name="username"' in form.text and form.headers["cache-control"] == "no-store"
    signed_in = await sign_in_with_the_form(client, "front", next=target)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == target
    home = await client.get("/admin/")
    assert home.status_code == 200
    assert "front" in home.text


async def test_a_wrong_password_is_said_in_the_page_language_and_signs_nobody_in(client: httpx.AsyncClient) -> None:
    await make_user("front", Role.front_desk)

    wrong = await client.post("/admin/login", data={"username": "front", "password": "nope", "next": "/admin/"},
                              headers={**ORIGIN, "Accept-Language": "zh-CN"})
    assert wrong.status_code == 401
    assert "用户名或密码错误" in wrong.text
    assert 'value="front"' in wrong.text  # the username stays filled in
    assert (await client.get("/admin/")).status_code == 303

    english = await client.post("/admin/login?lang=en", data={"username": "front", "password": "nope"}, headers=ORIGIN)
    assert "The username or password is wrong." in english.text


async def test_an_owner_is_asked_for_the_second_factor_before_the_session_starts(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)

    asked = await sign_in_with_the_form(client, "boss")
    assert asked.status_code == 401 and 'name="code"' in asked.text
    assert (await client.get("/admin/")).status_code == 303
    code = (await second_factor("boss")).get("totp") or ""
    signed_in = await sign_in_with_the_form(client, "boss", code=code)
    assert signed_in.status_code == 303
    assert (await client.get("/admin/")).status_code == 200


async def test_the_navigation_shows_only_what_the_role_may_use(client: httpx.AsyncClient) -> None:
    await make_user("front", Role.front_desk)
    await sign_in_with_the_form(client, "front")

    links = nav((await client.get("/admin/")).text)
    assert "/admin/customers" in links and "/admin/calendar" in links
    assert "/admin/audit" not in links and "/admin/export" not in links and "/admin/users" not in links


async def test_the_next_parameter_never_leaves_the_admin_ui(client: httpx.AsyncClient) -> None:
    await make_user("front", Role.front_desk)

    for evil in ("https://evil.example/admin/", "//evil.example/admin/", "/api/v1/customers", "javascript:alert(1)"):
        response = await client.post("/admin/login", data={"username": "front", "password": DEFAULT_PASSWORD, "next": evil},
                                     headers=ORIGIN)
        assert response.headers["location"] == "/admin/", evil


async def test_signing_out_needs_the_csrf_token_and_ends_the_session(client: httpx.AsyncClient) -> None:
    await make_user("front", Role.front_desk)
    await sign_in_with_the_form(client, "front")
    token = csrf_of((await client.get("/admin/")).text)

    refused = await client.post("/admin/logout", headers={**ORIGIN, "HX-Request": "true"})
    assert refused.status_code == 403
    assert (await client.get("/admin/")).status_code == 200

    out = await client.post("/admin/logout", headers={**ORIGIN, "HX-Request": "true", "X-CSRF-Token": token})
    assert out.status_code == 200 and out.headers["hx-location"] == "/admin/login"
    assert (await client.get("/admin/")).status_code == 303


async def test_the_site_root_leads_staff_to_the_admin_ui(client: httpx.AsyncClient) -> None:
    root = await client.get("/")
    assert root.status_code == 303 and root.headers["location"] == "/admin/"



async def test_every_admin_page_tells_htmx_to_settle_no_style_attribute(client: httpx.AsyncClient) -> None:
    """htmx would copy a swapped element's old style attribute onto the new one, which the CSP refuses
    (style-src-attr): the config in the admin shell, not a page's script, leaves style out."""
    page = await client.get("/admin/login")

    config = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', page.text)
    assert config is not None
    assert json.loads(config.group(1))["attributesToSettle"] == ["class", "width", "height"]
