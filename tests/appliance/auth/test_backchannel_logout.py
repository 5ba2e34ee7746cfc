"""OpenID Connect Back-Channel Logout 1.0 against the real npm oidc-provider: signing out at the provider
ends the appliance sessions of that provider session; invalid logout tokens end nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from litestar import Litestar

from appliance.audit.tables import AuditEntry
from appliance.settings import Settings
from tests.appliance.auth.test_oidc import relative, sso_app
from tests.idp import BACKCHANNEL_PATH, CLIENT_ID, Idp, sign_in_at_idp, sign_out_at_idp

EVENT = "http://schemas.openid.net/event/backchannel-logout"
ROLE_MAP = {"APPLIANCE_OIDC_ROLE_MAP": "staff=staff"}


@asynccontextmanager
async def served(app: Litestar, port: int) -> AsyncIterator[None]:
    """The appliance on a real loopback port, where the provider posts its logout tokens."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the appliance did not start serving"
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def signed_in(client: httpx.AsyncClient, idp: Idp, account: str, browser: httpx.AsyncClient | None = None) -> None:
    done = await client.get(relative(await sign_in_at_idp(client, idp, account, browser=browser)))
    assert done.status_code == 303, done.text


def logout_token(idp: Idp, key: RSAKey | None = None, **claims: Any) -> str:
    """A logout token as the provider would sign it; `None` values leave a claim out."""
    now = int(time.time())
    body = {"iss": idp.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex,
            "events": {EVENT: {}}, "sub": "mia-1"} | claims
    header = {"alg": "RS256", "kid": "test-idp-1", "typ": "logout+jwt"}
    return jwt.encode(header, {k: v for k, v in body.items() if v is not None}, key or idp.signing_key)


async def post_logout(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(BACKCHANNEL_PATH, data={"logout_token": token})


async def test_signing_out_at_the_provider_ends_that_sessions_sign_in_here_and_no_other(
    settings: Settings, database: str, idp: Idp
) -> None:
    # given one person signed in on two devices, each with its own provider session
    idp.set_account("lena-1", groups=["staff"])
    async with sso_app(settings, idp, **ROLE_MAP) as (app, laptop), served(app, idp.backchannel_port):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url=str(laptop.base_url)) as phone, \
                httpx.AsyncClient(timeout=10) as laptop_browser:
            await signed_in(laptop, idp, "lena-1", browser=laptop_browser)
            await signed_in(phone, idp, "lena-1")
            assert (await laptop.get("/api/v1/auth/me")).status_code == 200

            # when she signs out at the provider on the laptop
            signed_out = await sign_out_at_idp(laptop_browser, idp)

            # then the provider has told the appliance, and the laptop's session here is gone
            assert signed_out.status_code in (302, 303), signed_out.text
            assert (await laptop.get("/api/v1/auth/me")).status_code == 401
            assert (await phone.get("/api/v1/auth/me")).status_code == 200
    ended = await AuditEntry.select(AuditEntry.details, AuditEntry.actor_label).where(
        AuditEntry.action == "auth.sessions_ended"
    ).output(load_json=True)
    assert [e["details"] for e in ended] == [{"source": "backchannel_logout", "scope": "sid", "sessions": 1}]
    assert ended[0]["actor_label"] == f"sso:{idp.issuer}"


async def test_a_logout_token_naming_only_the_subject_ends_every_session_of_the_account(
    settings: Settings, database: str, idp: Idp
) -> None:
    idp.set_account("mia-1", groups=["staff"])
    async with sso_app(settings, idp, **ROLE_MAP) as (app, laptop):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url=str(laptop.base_url)) as phone:
            await signed_in(laptop, idp, "mia-1")
            await signed_in(phone, idp, "mia-1")

            response = await post_logout(laptop, logout_token(idp, sub="mia-1"))

            assert response.status_code == 200, response.text
            assert response.headers["cache-control"] == "no-store"
            assert (await laptop.get("/api/v1/auth/me")).status_code == 401
            assert (await phone.get("/api/v1/auth/me")).status_code == 401
            # she may sign in again: the provider, not this token, decides whether she may
            await signed_in(laptop, idp, "mia-1")
            assert (await laptop.get("/api/v1/auth/me")).status_code == 200


# (claims changed from a valid token, signed with a key not the provider's, the audited reason)
INVALID = [
    ({}, True, "bad_signature"),
    ({"events": None}, False, "no_logout_event"),
    ({"events": {"http://schemas.openid.net/event/other": {}}}, False, "no_logout_event"),
    ({"nonce": "n-0S6_WzA2Mj"}, False, "has_nonce"),
    ({"aud": "another-client"}, False, "wrong_audience"),
    ({"iss": "https://evil.example"}, False, "wrong_issuer"),
    ({"iat": int(time.time()) - 3600, "exp": None}, False, "bad_iat"),
    ({"sub": None}, False, "no_subject_or_sid"),
    ({"jti": None}, False, "no_jti"),
]


async def test_invalid_or_replayed_logout_tokens_are_refused_and_end_nothing(
    settings: Settings, database: str, idp: Idp
) -> None:
    # given a token the appliance accepted once (for an account that never signed in here)
    idp.set_account("mia-1", groups=["staff"])
    forger = RSAKey.generate_key(2048, parameters={"kid": "test-idp-1"})
    async with sso_app(settings, idp, **ROLE_MAP) as (_, client):
        accepted = logout_token(idp, sub="someone-else")
        assert (await post_logout(client, accepted)).status_code == 200
        await signed_in(client, idp, "mia-1")

        # when tokens naming her arrive broken in each way, then that one again, then none at all
        responses = [await post_logout(client, logout_token(idp, forger if forged else None, **claims))
                     for claims, forged, _ in INVALID]
        responses.append(await post_logout(client, accepted))
        responses.append(await client.post(BACKCHANNEL_PATH, data={}))

        # then each is a 400 problem, and her session is still there
        for response in responses:
            assert response.status_code == 400, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "logout_token_invalid"
        assert (await client.get("/api/v1/auth/me")).status_code == 200
    refused = await AuditEntry.select(AuditEntry.reason).where(
        AuditEntry.action == "auth.logout_token_refused"
    ).order_by(AuditEntry.occurred_at)
    assert [r["reason"] for r in refused] == [reason for *_, reason in INVALID] + ["replayed_jti", "missing"]
    assert await AuditEntry.count().where(AuditEntry.action == "auth.sessions_ended") == 0
