"""The real OpenID Provider for the SSO tests (npm oidc-provider, `npm ci --prefix tests/idp`), and a
browser that signs in through it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
from joserfc.jwk import RSAKey

IDP_DIR = Path(__file__).resolve().parent
CLIENT_ID = "booking-appliance"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"
APP_URL = "https://testserver"
CALLBACK_PATH = "/api/v1/auth/oidc/callback"
PASSWORD = "idp password 123"


BACKCHANNEL_PATH = "/api/v1/auth/oidc/backchannel-logout"


@dataclass(frozen=True)
class Idp:
    issuer: str
    # The loopback port the provider posts back-channel logout tokens to: a test that wants them
    # serves the appliance there.
    backchannel_port: int
    signing_key: RSAKey  # the provider's own signing key, to forge logout tokens in tests

    def set_account(self, account_id: str, *, disabled: bool = False, **claims: object) -> None:
        """Create or change an account at the provider (its password is PASSWORD)."""
        body = {"password": PASSWORD, "disabled": disabled, "claims": claims}
        response = httpx.put(f"{self.issuer}/__test/accounts/{account_id}", json=body, timeout=5)
        assert response.status_code == 204, response.text

    def env(self, **extra: str) -> dict[str, str]:
        """The appliance settings that point at this provider."""
        return {
            "APPLIANCE_PUBLIC_URL": APP_URL,
            "APPLIANCE_OIDC_ISSUER": self.issuer,
            "APPLIANCE_OIDC_CLIENT_ID": CLIENT_ID,
            "APPLIANCE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "APPLIANCE_OIDC_SCOPES": "openid profile email groups",
            **extra,
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_idp(app_url: str = APP_URL) -> Iterator[Idp]:
    """Start the provider on a free loopback port, wait for its discovery document, stop it after. Its one
    client is the appliance at `app_url` (an in-process app by default; a served one for the browser tests)."""
    if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("the test identity provider is not installed: run `npm ci --prefix tests/idp`")
    port, backchannel_port = _free_port(), _free_port()
    issuer = f"http://127.0.0.1:{port}"
    client = {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [f"{app_url}{CALLBACK_PATH}"],
        "post_logout_redirect_uris": [f"{app_url}/"],
        "backchannel_logout_uri": f"http://127.0.0.1:{backchannel_port}{BACKCHANNEL_PATH}",
        "backchannel_logout_session_required": True,
    }
    key = RSAKey.generate_key(2048, parameters={"kid": "test-idp-1", "alg": "RS256", "use": "sig"})
    env = {
        **os.environ, "IDP_PORT": str(port), "IDP_CLIENT": json.dumps(client),
        "IDP_JWKS": json.dumps({"keys": [key.as_dict(private=True)]}),
    }
    process = subprocess.Popen(
        ["node", str(IDP_DIR / "provider.mjs")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"the test identity provider did not start:\n{output}")
            time.sleep(0.1)
        yield Idp(issuer, backchannel_port, key)
    finally:
        process.terminate()
        process.wait(timeout=10)


_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


async def sign_in_at_idp(
    app: httpx.AsyncClient, idp: Idp, login: str, *, password: str = PASSWORD,
    tamper_authorization: Callable[[str], str] = lambda url: url, browser: httpx.AsyncClient | None = None,
    start_at: str = "/api/v1/auth/oidc/login",
) -> str:
    """Act as the browser: start SSO at the appliance (or, with `start_at`, a step-up), follow the
    provider's pages, submit its login form when it shows one, and stop at the redirect back to the
    appliance. Returns that callback URL, not yet opened. Pass `browser` to keep the provider's session
    cookie (to sign out there later, or to be known there at a step-up)."""
    start = await app.get(start_at)
    assert start.status_code == 303, start.text
    url = tamper_authorization(start.headers["location"])
    async with contextlib.AsyncExitStack() as stack:
        if browser is None:
            browser = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        for _ in range(10):
            if url.startswith(APP_URL):
                return url
            response = await browser.get(url)
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                continue
            action = _FORM_ACTION.search(response.text)
            assert response.status_code == 200 and action, response.text
            submitted = await browser.post(urljoin(url, action.group(1)), data={"login": login, "password": password})
            assert submitted.status_code == 303, submitted.text
            url = urljoin(url, submitted.headers["location"])
    raise AssertionError(f"the provider never sent the browser back to the appliance (last: {url})")


_LOGOUT_XSRF = re.compile(r'<form id="op.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"/>')


async def sign_out_at_idp(browser: httpx.AsyncClient, idp: Idp) -> httpx.Response:
    """Act as the browser signing out at the provider (its end_session page, confirmed): the provider
    then posts a logout token to every client of that session before it answers."""
    page = await browser.get(f"{idp.issuer}/session/end")
    form = _LOGOUT_XSRF.search(page.text)
    assert page.status_code == 200 and form, page.text
    return await browser.post(form.group(1), data={"xsrf": form.group(2), "logout": "yes"})
