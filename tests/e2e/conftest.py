"""Browser tests: Playwright drives Debian's Chromium against a real `python -m appliance serve`.

One server per session on a free 127.0.0.1 port, over a SQLite file seeded through the builders
(`Seed`). Every page is created by `new_page`, which refuses any request that leaves 127.0.0.1 and
fails the test if one was attempted. `signed_in(role)` gives a page with a staff session, for the
admin pages' tests. Never run `playwright install`: the harness uses /usr/bin/chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import msgspec
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.db import open_database
from appliance.db.migrate import apply_migrations
from appliance.forms import actions as form_actions
from appliance.forms.schemas import FormCreate
from appliance.settings import Settings, load_settings
from appliance.testing.builders import DEFAULT_PASSWORD, make_branch, make_resource, make_service, make_user, second_factor

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


@dataclass
class Seed:
    """What the seeded business holds, by name."""

    branch_id: UUID
    massage_id: UUID  # customers choose the staff member; has booking questions
    foot_id: UUID
    staff: dict[str, UUID]


@dataclass
class Server:
    base_url: str
    settings: Settings
    seed: Seed
    users: dict[str, str] = field(default_factory=dict)  # role -> username made for it
    # role -> (cookies, CSRF token) of its one session: signing in again for every test would use up the
    # owner's and the compliance officer's TOTP steps (one per 30 s) and then their recovery codes.
    sessions: dict[str, tuple[list[Any], str]] = field(default_factory=dict)

    def run(self, coroutine: Any) -> Any:
        """Run builders or queries against the server's database from the test."""
        open_database(self.settings)
        return in_own_loop(coroutine)


def in_own_loop(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop in the test's thread."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _seed() -> Seed:
    branch = await make_branch("静安店")
    wang = await make_resource(branch.id, name="王芳")
    li = await make_resource(branch.id, name="李娜")
    massage = await make_service(branch.id, "精油按摩", customer_picks_staff=True, price={"amount": 19800, "currency": "CNY"})
    foot = await make_service(branch.id, "足疗", duration_minutes=45, price={"amount": 12800, "currency": "CNY"})
    fields = [
        {"key": "pressure", "type": "single_select", "label": {"zh-CN": "力度偏好", "en": "Pressure"}, "required": True,
         "options": [{"value": "soft", "label": {"zh-CN": "轻", "en": "Soft"}},
                     {"value": "firm", "label": {"zh-CN": "重", "en": "Firm"}}]},
        {"key": "allergy", "type": "text", "label": {"zh-CN": "过敏史", "en": "Allergies"},
         "help": {"zh-CN": "如对精油过敏请注明", "en": "Tell us about any oil allergy"}},
    ]
    form = msgspec.convert({"target": "service", "name": "按摩问卷", "fields": fields, "service_id": str(massage.id)}, FormCreate)
    await form_actions.create_form(form, actor=cli_actor())
    return Seed(branch_id=branch.id, massage_id=massage.id, foot_id=foot.id, staff={"王芳": wang.id, "李娜": li.id})


@contextlib.contextmanager
def serving(data_dir: Path, port: int, **extra_env: str) -> Iterator[Server]:
    """`python -m appliance serve` on 127.0.0.1:`port` over a seeded SQLite file in `data_dir`; `extra_env`
    adds or overrides settings (the SSO tests point it at the test identity provider)."""
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "APPLIANCE_DATABASE_URL": f"sqlite:///{data_dir / 'appliance.db'}", "APPLIANCE_DATA_DIR": str(data_dir / "var"),
        "APPLIANCE_PUBLIC_URL": base_url, "APPLIANCE_HTTP_SECURE_COOKIES": "false", "APPLIANCE_LOG_LEVEL": "warning",
        "APPLIANCE_PORTAL_REQUESTS_PER_MINUTE": "1000", **extra_env,
    }
    settings = load_settings(env)
    open_database(settings)
    in_own_loop(apply_migrations())
    seed: Seed = in_own_loop(_seed())
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_ready(base_url, process, data_dir / "server.log")
        yield Server(base_url=base_url, settings=settings, seed=seed)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("e2e"), free_port()) as running:
        yield running


def _wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60  # readiness, not an assertion about speed
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("the server did not answer /healthz within 60 s")


# Playwright's sync API keeps an event loop in the test's thread while it runs: stopped after each
# module, so the asyncio tests collected after tests/e2e still get to run their own loops.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


class OffHost:
    """Requests a page tried to make anywhere but 127.0.0.1 (refused)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __call__(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.attempts.append(route.request.url)
            route.abort()


@contextlib.contextmanager
def pages_on(browser: Browser, base_url: str) -> Iterator[Callable[..., Page]]:
    """`make(viewport=PHONE, locale="zh-CN")`: a fresh context (own cookies) on `base_url` per call,
    closed at the end; a request that leaves 127.0.0.1 fails the test."""
    contexts: list[BrowserContext] = []
    off_host = OffHost()

    def make(viewport: dict[str, int] = DESKTOP, locale: str = "zh-CN") -> Page:
        context = browser.new_context(viewport=viewport, locale=locale, base_url=base_url)  # type: ignore[arg-type]
        context.route("**/*", off_host)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert off_host.attempts == [], "the browser tried to leave 127.0.0.1"


@pytest.fixture
def new_page(browser: Browser, server: Server) -> Iterator[Callable[..., Page]]:
    """`new_page(viewport=PHONE, locale="zh-CN")`: a fresh context (own cookies) on the server."""
    with pages_on(browser, server.base_url) as make:
        yield make


@dataclass
class SignedIn:
    page: Page
    username: str
    csrf_token: str


@pytest.fixture
def signed_in(new_page: Callable[..., Page], server: Server) -> Callable[..., SignedIn]:
    """`signed_in(Role.front_desk)`: a page whose context holds a session of a user with that role
    (user and session made once per role and test session; owners and compliance officers answer their
    TOTP). A test that signs out must use an account of its own."""

    def sign_in(role: Role, viewport: dict[str, int] = DESKTOP) -> SignedIn:
        username = server.users.get(role) or f"e2e-{role.value}"
        if role not in server.users:
            server.run(make_user(username, role))
            server.users[role] = username
        page = new_page(viewport=viewport)
        if role in server.sessions:
            cookies, csrf_token = server.sessions[role]
            page.context.add_cookies(cookies)
            return SignedIn(page=page, username=username, csrf_token=csrf_token)
        login = {"username": username, "password": DEFAULT_PASSWORD, **server.run(second_factor(username))}
        response = page.context.request.post("/api/v1/auth/login", data=login)
        assert response.ok, response.text()
        csrf_token = response.json()["csrf_token"]
        server.sessions[role] = (page.context.cookies(), csrf_token)
        return SignedIn(page=page, username=username, csrf_token=csrf_token)

    return sign_in


AXE = "/static/vendor/axe.min.js"


def serious_accessibility_problems(page: Page) -> list[dict[str, Any]]:
    """axe-core (vendored, loaded from our own origin so the page's CSP holds) on the current page:
    the violations of impact serious or critical."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return violations


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
