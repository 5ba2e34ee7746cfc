"""Static files: served from the package, and portal pages stay light on a phone (< 150 KB of JavaScript)."""

from __future__ import annotations

import re

import httpx

PORTAL_JS_BUDGET = 150 * 1024


async def test_a_portal_page_loads_under_150_kb_of_javascript(client: httpx.AsyncClient) -> None:
    page = await client.get("/portal/")
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page.text)

    sizes = {src: len((await client.get(src)).content) for src in scripts}

    assert page.status_code == 200
    assert set(sizes) == {"/static/vendor/htmx.min.js", "/static/vendor/alpine-csp.min.js"}
    assert all(sizes.values())
    assert sum(sizes.values()) < PORTAL_JS_BUDGET, sizes


async def test_vendored_files_are_served_with_their_licences(client: httpx.AsyncClient) -> None:
    css = await client.get("/static/app.css")
    licence = await client.get("/static/vendor/htmx.org.LICENSE.txt")

    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "max-age=3600" in css.headers["cache-control"]
    assert licence.status_code == 200 and "Zero-Clause BSD" in licence.text
