"""Security headers on every response: successes, problems and unrouted paths alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from appliance.app import create_app
from appliance.settings import Settings
from appliance.testing.lifespan import running
from tests.conftest import make_settings


@asynccontextmanager
async def client_with(settings: Settings, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    configured = make_settings(settings.database_url, settings.data.dir, **env)
    async with running(create_app(configured)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            yield client


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/healthz"),
        await client.get("/api/v1/branches"),  # 401 problem
        await client.get("/no/such/path"),  # answered by the router, before any route middleware
        await client.post("/api/v1/auth/login", json={"username": "x", "password": "y"}),
    ]

    for response in responses:
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", response.url
        assert headers["referrer-policy"] == "no-referrer"
        csp = headers["content-security-policy"]
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in headers  # off unless the appliance is behind TLS
    assert responses[1].headers["cache-control"] == "no-store"


async def test_pages_send_their_referrer_to_their_own_origin_only(client: httpx.AsyncClient) -> None:
    page = await client.get("/portal/")

    # Chromium posts a form from a no-referrer page with `Origin: null`, which the CSRF check refuses.
    assert page.status_code == 200 and page.headers["referrer-policy"] == "same-origin"
    assert (await client.get("/api/v1/portal/bookings/unknown")).headers["referrer-policy"] == "no-referrer"


async def test_hsts_and_the_portal_embed_follow_the_settings(settings: Settings, database: str) -> None:
    async with client_with(
        settings, APPLIANCE_PUBLIC_URL="https://booking.example.com", APPLIANCE_HTTP_HSTS="true",
        APPLIANCE_HTTP_FRAME_ANCESTORS="https://www.example.com,https://shop.example.cn",
    ) as client:
        staff = await client.get("/api/v1/branches")
        portal = await client.get("/api/v1/portal/availability")
        page = await client.get("/portal/")  # the portal's pages, embedded in the business's own site

    assert staff.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "frame-ancestors 'none'" in staff.headers["content-security-policy"]
    assert "frame-ancestors https://www.example.com https://shop.example.cn" in portal.headers["content-security-policy"]
    assert "x-frame-options" not in portal.headers
    assert "frame-ancestors https://www.example.com https://shop.example.cn" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers


def test_settings_refuse_hsts_without_https_and_frame_ancestors_that_are_not_origins() -> None:
    from appliance.settings import SettingsError, load_settings

    try:
        load_settings({"APPLIANCE_HTTP_HSTS": "true", "APPLIANCE_HTTP_FRAME_ANCESTORS": "*, https://ok.example.com"})
    except SettingsError as error:
        problems = error.problems
    else:
        raise AssertionError("settings accepted")
    assert any(p.startswith("APPLIANCE_HTTP_HSTS") for p in problems)
    assert [p for p in problems if p.startswith("APPLIANCE_HTTP_FRAME_ANCESTORS")] == [
        "APPLIANCE_HTTP_FRAME_ANCESTORS: '*' is not an origin such as https://www.example.com"
    ]
