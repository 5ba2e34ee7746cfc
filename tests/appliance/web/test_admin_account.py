"""My account: who I am, setting up the second factor through the pages (also from a session that must
enrol before its roles apply) and signing in with it, and API tokens made and revoked — on both engines."""

from __future__ import annotations

import html
import re
import time

import httpx
import segno

from appliance.auth import actions as auth_actions
from appliance.auth import totp
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.auth.schemas import GrantBody, UserCreate
from appliance.testing.builders import DEFAULT_PASSWORD, TOTP_SECRETS, make_user, second_factor
from tests.appliance.web.test_admin_shell import ORIGIN, csrf_of, nav, sign_in_with_the_form


def field(page: str, name: str) -> str:
    match = re.search(rf'data-field="{name}">(.*?)</', page, re.S)
    assert match is not None, name
    return html.unescape(match.group(1)).strip()


def qr_modules(svg: str, border: int = 4) -> list[list[bool]]:
    """The dark modules of a QR code drawn as segno draws it: one path of horizontal strokes
    (`M x y` / `m dx dy` moves, `h n` draws n modules) at half-module heights, inside a quiet zone."""
    path = re.findall(r'<path stroke="#000" d="([^"]+)"', svg)
    assert len(path) == 1
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path[0]):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark |= {(int(y), int(x) + i) for i in range(int(a))}
            x += float(a)
    size = max(max(r, c) for r, c in dark) + 1 - border
    return [[(r + border, c + border) in dark for c in range(size)] for r in range(size)]


def htmx(token: str) -> dict[str, str]:
    return {**ORIGIN, "HX-Request": "true", "X-CSRF-Token": token}


def wrong_code(secret: str) -> str:
    """A six-digit code no step of the drift window accepts."""
    now = totp.step_at(time.time())
    valid = {totp.hotp(secret, s) for s in range(now - totp.DRIFT_STEPS - 1, now + totp.DRIFT_STEPS + 2)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


async def test_an_owner_without_a_second_factor_sets_it_up_on_the_page_and_then_signs_in_with_it(
    client: httpx.AsyncClient,
) -> None:
    await auth_actions.create_user(
        UserCreate(username="boss", password=DEFAULT_PASSWORD, grants=[GrantBody(Role.owner)]), actor=cli_actor()
    )
    signed_in = await sign_in_with_the_form(client, "boss")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/account"

    page = (await client.get("/admin/account?lang=en")).text
    assert field(page, "username") == "boss" and "Owner (All branches)" in field(page, "roles")
    assert 'hx-post="/admin/account/totp"' in page and "Your role needs a second factor" in page
    assert "/admin/reports" not in nav(page)  # no role until the second factor is set up
    assert (await client.get("/admin/reports")).status_code == 403
    token = csrf_of(page)

    refused = await client.post("/admin/account/totp?lang=en", data={"password": "wrong"}, headers=htmx(token))
    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="password-error"' in refused.text
    assert "This is not your current password." in refused.text

    started = await client.post("/admin/account/totp", data={"password": DEFAULT_PASSWORD}, headers=htmx(token))
    assert started.status_code == 200
    secret = field(started.text, "secret")
    assert field(started.text, "otpauth").startswith("otpauth://totp/") and f"secret={secret}" in field(started.text, "otpauth")
    svg = re.search(r'<figure class="qr-code" data-field="qr">(<svg .*?</svg>)</figure>', started.text, re.S)
    assert svg is not None  # inline, so the CSP (default-src 'self': no data: images, no inline styles) allows it
    assert "style=" not in svg[1] and "data:" not in svg[1] and "<script" not in svg[1] and 'role="img"' in svg[1]
    assert qr_modules(svg[1]) == [list(map(bool, row)) for row in segno.make(field(started.text, "otpauth"), error="m").matrix]
    assert "'unsafe-inline'" not in started.headers["content-security-policy"]

    wrong = await client.post("/admin/account/totp/confirm?lang=en", data={"code": wrong_code(secret)}, headers=htmx(token))
    assert wrong.status_code == 422 and 'id="code-error"' in wrong.text

    confirmed = await client.post("/admin/account/totp/confirm",
                                  data={"code": totp.code_at(secret, time.time())}, headers=htmx(token))
    assert confirmed.status_code == 200 and confirmed.headers["hx-retarget"] == "#second-factor"
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", confirmed.text)
    assert len(codes) == 10
    home = await client.get("/admin/")  # the new session holds the owner's roles
    assert home.status_code == 200 and "/admin/reports" in nav(home.text)
    assert "An authenticator app is set up." in (await client.get("/admin/account?lang=en")).text

    client.cookies.clear()
    TOTP_SECRETS["boss"] = secret
    asked = await sign_in_with_the_form(client, "boss")
    assert asked.status_code == 401 and 'name="code"' in asked.text
    again = await sign_in_with_the_form(client, "boss", code=(await second_factor("boss"))["totp"])
    assert again.status_code == 303 and again.headers["location"] == "/admin/customers"


async def test_a_token_is_shown_once_works_and_stops_working_when_revoked(client: httpx.AsyncClient) -> None:
    await make_user("manager", Role.manager)
    await sign_in_with_the_form(client, "manager")
    page = (await client.get("/admin/account?lang=en")).text
    token = csrf_of(page)
    assert "You have no API tokens." in page

    missing = await client.post("/admin/account/tokens?lang=en", data={"name": ""}, headers=htmx(token))
    assert missing.status_code == 422
    assert 'id="name-error">Give the token a name.' in missing.text
    assert 'id="scopes-error">Choose at least one permission.' in missing.text

    created = await client.post("/admin/account/tokens", headers=htmx(token),
                                data={"name": "ERP sync", "scopes": ["bookings.read", "reports.read"], "days": "30"})
    assert created.status_code == 200
    secret = field(created.text, "new-token")
    bearer = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as api:
        assert (await api.get("/api/v1/auth/me", headers=bearer)).status_code == 200

        listed = (await client.get("/admin/account")).text
        assert "ERP sync" in listed and secret not in listed
        token_id = re.findall(r'data-token="([^"]+)"', listed)[0]

        revoked = await client.post(f"/admin/account/tokens/{token_id}/revoke?lang=en", headers=htmx(token))
        assert revoked.status_code == 200 and "Revoked" in revoked.text
        assert (await api.get("/api/v1/auth/me", headers=bearer)).status_code == 401


async def test_a_role_without_tokens_sees_no_token_section_and_may_not_make_one(client: httpx.AsyncClient) -> None:
    await make_user("front", Role.front_desk)
    await sign_in_with_the_form(client, "front")
    page = await client.get("/admin/account?lang=en")
    assert page.status_code == 200 and "API tokens" not in page.text
    assert "No authenticator app is set up." in page.text  # anyone may add a second factor

    refused = await client.post("/admin/account/tokens", data={"name": "x", "scopes": ["bookings.read"]},
                                headers=htmx(csrf_of(page.text)))
    assert refused.status_code == 403
