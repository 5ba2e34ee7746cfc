"""Single sign-on against the real npm oidc-provider on loopback: the whole browser flow, and every
tampered response refused with a clear error and no session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import UUID

import httpx
from litestar import Litestar

from appliance.app import create_app
from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.auth.sessions import SECURE_COOKIE
from appliance.auth.tables import SessionRecord, SsoIdentity, User
from appliance.settings import Settings
from appliance.testing.builders import make_branch, make_user, sign_in
from appliance.testing.lifespan import running
from tests.conftest import make_settings
from tests.idp import APP_URL, Idp, sign_in_at_idp


@asynccontextmanager
async def sso_app(settings: Settings, idp: Idp, **env: str) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    """An appliance set up for SSO with this provider, and a browser-like client of it."""
    configured = make_settings(settings.database_url, settings.data.dir, **idp.env(**env))
    async with running(create_app(configured)) as app:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as client:
            yield app, client


@asynccontextmanager
async def sso_client(settings: Settings, idp: Idp, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    async with sso_app(settings, idp, **env) as (_, client):
        yield client


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def session_rows() -> int:
    return int(await SessionRecord.count().where(SessionRecord.key.like("sessions:%")))


async def failures(reason: str) -> int:
    return int(await AuditEntry.count().where(
        (AuditEntry.action == "auth.login_failed") & (AuditEntry.reason == reason) & (AuditEntry.auth_method == "sso")
    ))


def assert_refused(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, object] = response.json()
    assert problem["code"] == code, problem
    assert SECURE_COOKIE not in response.headers.get("set-cookie", "")
    return problem


async def test_sso_sign_in_creates_the_account_just_in_time_with_the_mapped_role(
    settings: Settings, database: str, idp: Idp
) -> None:
    # given a branch, a role map naming it, and a provider account in the mapped group
    branch = await make_branch()
    idp.set_account("alice-1", preferred_username="alice", name="Alice", groups=["frontdesk-jingan", "unrelated"])
    role_map = f"frontdesk-jingan=front_desk@{branch.id},booking-owners=owner"
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP=role_map) as client:
        # when she signs in through the provider
        callback = await sign_in_at_idp(client, idp, "alice-1")
        done = await client.get(relative(callback))

        # then a session starts and she is a front-desk user of that branch only
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"{APP_URL}/admin/"
        me = (await client.get("/api/v1/auth/me")).json()
    assert me["user"]["username"] == "alice"
    assert me["auth_method"] == "sso"
    assert me["user"]["grants"] == [{"role": "front_desk", "branch_id": str(branch.id)}]
    identity = await SsoIdentity.select().where(SsoIdentity.subject == "alice-1").first()
    assert identity is not None and identity["issuer"] == idp.issuer
    user = await User.select(User.password_hash).where(User.id == UUID(me["user"]["id"])).first()
    assert user is not None and user["password_hash"] is None  # SSO-only: no local password
    assert await AuditEntry.count().where(AuditEntry.action == "user.created") == 1


async def test_a_changed_group_changes_the_role_at_the_next_sign_in_without_a_second_account(
    settings: Settings, database: str, idp: Idp
) -> None:
    branch = await make_branch()
    role_map = f"frontdesk-jingan=front_desk@{branch.id},booking-owners=owner"
    idp.set_account("bob-1", preferred_username="bob", groups=["frontdesk-jingan"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP=role_map) as client:
        await client.get(relative(await sign_in_at_idp(client, idp, "bob-1")))
        idp.set_account("bob-1", preferred_username="bob", groups=["booking-owners"])

        await client.get(relative(await sign_in_at_idp(client, idp, "bob-1")))

        me = (await client.get("/api/v1/auth/me")).json()
    assert me["user"]["grants"] == [{"role": "owner", "branch_id": None}]
    assert await User.count() == 1
    assert await AuditEntry.count().where(AuditEntry.action == "user.grants_changed") == 1


async def test_a_local_account_of_the_same_name_is_not_taken_over(settings: Settings, database: str, idp: Idp) -> None:
    local = await make_user("carol", Role.front_desk)
    idp.set_account("carol-at-idp", preferred_username="carol", groups=["staff"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        await client.get(relative(await sign_in_at_idp(client, idp, "carol-at-idp")))
        me = (await client.get("/api/v1/auth/me")).json()

    assert me["user"]["id"] != str(local.id)
    assert me["user"]["username"].startswith("sso-")


async def test_claims_that_map_to_no_role_are_refused_and_create_no_account(
    settings: Settings, database: str, idp: Idp
) -> None:
    idp.set_account("dave-1", groups=["marketing"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        response = await client.get(relative(await sign_in_at_idp(client, idp, "dave-1")))

    assert_refused(response, 403, "sso_no_role")
    assert await User.count() == 0
    assert await session_rows() == 0


async def test_a_browser_refused_for_want_of_a_role_is_sent_to_the_sign_in_page_saying_why(
    settings: Settings, database: str, idp: Idp
) -> None:
    idp.set_account("erin-1", groups=["marketing"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        callback = relative(await sign_in_at_idp(client, idp, "erin-1"))
        response = await client.get(callback, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        page = await client.get(response.headers["location"], headers={"Accept-Language": "en"})

    assert response.status_code == 303 and response.headers["location"] == "/admin/login?sso_failed=sso_no_role"
    assert SECURE_COOKIE not in response.headers.get("set-cookie", "")
    assert "it gives you no role here" in page.text
    assert await User.count() == 0
    assert await session_rows() == 0
    assert await AuditEntry.count().where(
        (AuditEntry.action == "auth.login_failed") & (AuditEntry.reason == "no_role_from_claims")
    ) == 1


async def test_a_wrong_state_is_refused(settings: Settings, database: str, idp: Idp) -> None:
    idp.set_account("erin-1", groups=["staff"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        callback = await sign_in_at_idp(client, idp, "erin-1")

        response = await client.get(relative(with_query(callback, state="forged-state-value")))

    problem = assert_refused(response, 401, "sso_state_mismatch")
    assert "does not belong to the sign-in this browser started" in str(problem["detail"])
    assert await User.count() == 0
    assert await session_rows() == 0
    assert await failures("sso_state_mismatch") == 1


async def test_a_callback_without_the_browsers_flow_cookie_is_refused(settings: Settings, database: str, idp: Idp) -> None:
    idp.set_account("erin-2", groups=["staff"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        callback = await sign_in_at_idp(client, idp, "erin-2")
        client.cookies.clear()  # another browser (login CSRF): it never started this flow

        response = await client.get(relative(callback))

    assert_refused(response, 401, "sso_flow_unknown")
    assert await session_rows() == 0


async def test_a_replayed_code_is_refused(settings: Settings, database: str, idp: Idp) -> None:
    idp.set_account("frank-1", groups=["staff"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        first = await sign_in_at_idp(client, idp, "frank-1")
        assert (await client.get(relative(first))).status_code == 303
        client.cookies.clear()
        sessions_after_first = await session_rows()

        # the same callback again: its flow was used up
        again = await client.get(relative(first))
        # the used code smuggled into a fresh flow of this browser: the provider refuses to redeem it
        fresh = await client.get("/api/v1/auth/oidc/login")
        smuggled = with_query(first, state=parse_qs(urlsplit(fresh.headers["location"]).query)["state"][0])
        replayed = await client.get(relative(smuggled))

    assert_refused(again, 401, "sso_flow_unknown")
    problem = assert_refused(replayed, 401, "sso_code_rejected")
    assert "invalid_grant" in str(problem["detail"])
    assert await session_rows() == sessions_after_first == 1


async def test_a_wrong_nonce_is_refused(settings: Settings, database: str, idp: Idp) -> None:
    idp.set_account("gina-1", groups=["staff"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        # an authorization request whose nonce was swapped on the way: the ID token carries that one
        callback = await sign_in_at_idp(
            client, idp, "gina-1", tamper_authorization=lambda url: with_query(url, nonce="attacker-nonce")
        )

        response = await client.get(relative(callback))

    problem = assert_refused(response, 401, "sso_id_token_invalid")
    assert "nonce" in str(problem["detail"])
    assert await User.count() == 0
    assert await session_rows() == 0


async def test_a_response_from_another_issuer_is_refused(settings: Settings, database: str, idp: Idp) -> None:
    idp.set_account("hank-1", groups=["staff"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        callback = await sign_in_at_idp(client, idp, "hank-1")
        assert parse_qs(urlsplit(callback).query)["iss"] == [idp.issuer]  # the provider sends RFC 9207 iss

        mixed_up = await client.get(relative(with_query(callback, iss="https://evil.example")))

    assert_refused(mixed_up, 401, "sso_issuer_mismatch")
    assert await User.count() == 0
    assert await session_rows() == 0


async def test_a_provider_whose_discovery_names_another_issuer_is_not_used(
    settings: Settings, database: str, idp: Idp
) -> None:
    # the same provider reached as localhost: its document still says 127.0.0.1
    other = idp.issuer.replace("127.0.0.1", "localhost")
    async with sso_client(settings, idp, APPLIANCE_OIDC_ISSUER=other) as client:
        response = await client.get("/api/v1/auth/oidc/login")

    assert_refused(response, 401, "sso_issuer_mismatch")


async def test_a_user_disabled_at_the_provider_cannot_sign_in(settings: Settings, database: str, idp: Idp) -> None:
    idp.set_account("ivan-1", groups=["staff"], disabled=True)
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        response = await client.get(relative(await sign_in_at_idp(client, idp, "ivan-1")))

    problem = assert_refused(response, 401, "sso_refused_by_provider")
    assert "access_denied" in str(problem["detail"])
    assert await session_rows() == 0


async def test_a_user_disabled_at_the_provider_loses_their_session_at_the_next_recheck(
    settings: Settings, database: str, idp: Idp
) -> None:
    idp.set_account("judy-1", groups=["staff"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff", APPLIANCE_OIDC_RECHECK_SECONDS="1") as client:
        await client.get(relative(await sign_in_at_idp(client, idp, "judy-1")))
        await asyncio.sleep(1.1)
        still_in = await client.get("/api/v1/auth/me")  # rechecked: the provider refreshes the tokens
        idp.set_account("judy-1", groups=["staff"], disabled=True)
        await asyncio.sleep(1.1)

        after = await client.get("/api/v1/auth/me")

    assert still_in.status_code == 200
    assert after.status_code == 401
    assert await session_rows() == 0
    ended = await AuditEntry.select(AuditEntry.reason).where(AuditEntry.action == "auth.session_ended")
    assert ended == [{"reason": "identity_provider_refused"}]


async def test_sign_out_ends_the_session_and_hands_over_to_the_providers_logout(
    settings: Settings, database: str, idp: Idp
) -> None:
    idp.set_account("kate-1", groups=["staff"])
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="staff=staff") as client:
        await client.get(relative(await sign_in_at_idp(client, idp, "kate-1")))
        csrf = (await client.get("/api/v1/auth/me")).json()["csrf_token"]

        response = await client.post("/api/v1/auth/oidc/logout", headers={"X-CSRF-Token": csrf})

        after = await client.get("/api/v1/auth/me")
    assert response.status_code == 200, response.text
    url = response.json()["end_session_url"]
    assert url.startswith(f"{idp.issuer}/session/end?")
    query = parse_qs(urlsplit(url).query)
    assert query["post_logout_redirect_uri"] == [f"{APP_URL}/"] and query["id_token_hint"]
    assert after.status_code == 401
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(url)).status_code == 200  # the provider's sign-out confirmation page


def without_query(url: str, *names: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if k not in names}
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_an_sso_owner_confirms_at_the_provider_to_reset_another_accounts_second_factor(
    settings: Settings, database: str, idp: Idp
) -> None:
    # given an owner who signs in only through the provider, and an officer with an authenticator app
    officer = await make_user("officer", Role.compliance_officer)
    idp.set_account("olga-1", preferred_username="olga", groups=["booking-owners"])
    idp.set_account("mallory-1", preferred_username="mallory", groups=["booking-owners"])
    step_up = f"/api/v1/auth/oidc/step-up?return_to=/admin/users/{officer.id}"
    reset, body = f"/api/v1/users/{officer.id}/mfa/reset", {"reason": "lost phone, ticket 4711"}
    asked: list[str] = []
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="booking-owners=owner") as client, \
            httpx.AsyncClient(timeout=10) as browser:
        await client.get(relative(await sign_in_at_idp(client, idp, "olga-1", browser=browser)))
        csrf = {"X-CSRF-Token": (await client.get("/api/v1/auth/me")).json()["csrf_token"]}

        # when she resets without confirming, or the provider keeps its session instead of signing her
        # in again (prompt and max_age taken off the way), or another account answers at the provider
        # (in another browser: the provider would first offer to sign her out in this one)
        unconfirmed = await client.post(reset, json=body, headers=csrf)
        kept = await client.get(relative(await sign_in_at_idp(
            client, idp, "olga-1", browser=browser, start_at=step_up,
            tamper_authorization=lambda url: without_query(url, "prompt", "max_age"),
        )))
        after_kept = await client.post(reset, json=body, headers=csrf)
        other = await client.get(relative(await sign_in_at_idp(client, idp, "mallory-1", start_at=step_up)))
        after_other = await client.post(reset, json=body, headers=csrf)
        # and when she signs in again at the provider, then resets
        confirmed = await client.get(relative(await sign_in_at_idp(
            client, idp, "olga-1", browser=browser, start_at=step_up, tamper_authorization=lambda url: asked.append(url) or url,
        )))
        done = await client.post(reset, json=body, headers=csrf)
        twice = await client.post(reset, json=body, headers=csrf)  # one confirmation, one reset

    # then only the fresh sign-in of her own account lets her reset it
    assert_refused(unconfirmed, 403, "step_up_required")
    assert "/api/v1/auth/oidc/step-up" in unconfirmed.json()["detail"]
    assert_refused(kept, 401, "sso_step_up_not_fresh") and after_kept.status_code == 403
    assert_refused(other, 401, "sso_step_up_other_account") and after_other.status_code == 403
    query = parse_qs(urlsplit(asked[0]).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"{APP_URL}/admin/users/{officer.id}"
    assert done.status_code == 200, done.text
    assert_refused(twice, 403, "step_up_required")
    row = await User.select(User.totp_secret, User.totp_confirmed_at).where(User.id == officer.id).first()
    assert row == {"totp_secret": None, "totp_confirmed_at": None}
    entries = await AuditEntry.select(AuditEntry.action, AuditEntry.reason, AuditEntry.auth_method, AuditEntry.result).where(
        AuditEntry.action.is_in(["auth.mfa_reset", "auth.reauthenticated", "auth.reauthentication_failed"])
    ).order_by(AuditEntry.occurred_at)
    assert [(e["action"], e["result"], e["auth_method"]) for e in entries if e["action"] != "auth.mfa_reset"] == [
        ("auth.reauthentication_failed", "failure", "sso"), ("auth.reauthentication_failed", "failure", "sso"),
        ("auth.reauthenticated", "success", "sso"),
    ]
    assert [e["reason"] for e in entries if e["action"] == "auth.reauthentication_failed"] == [
        "sso_step_up_not_fresh", "sso_step_up_other_account",
    ]
    resets = [(e["result"], e["auth_method"], e["reason"]) for e in entries if e["action"] == "auth.mfa_reset"]
    assert resets.count(("success", "sso", "lost phone, ticket 4711")) == 1 and len(resets) == 5  # 4 refusals


async def test_a_step_up_at_the_provider_is_only_for_sessions_signed_in_through_it(
    settings: Settings, database: str, idp: Idp
) -> None:
    await make_user("local-owner", Role.owner)
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="booking-owners=owner") as client:
        await sign_in(client, "local-owner")

        local = await client.get("/api/v1/auth/oidc/step-up")
        elsewhere = await client.get("/api/v1/auth/oidc/step-up?return_to=//evil.example/")
        client.cookies.clear()
        anonymous = await client.get("/api/v1/auth/oidc/step-up")

    assert_refused(local, 409, "step_up_not_sso")
    assert elsewhere.status_code == 422 and "return_to" in elsewhere.text
    assert anonymous.status_code == 401


async def test_the_users_page_lets_an_sso_owner_confirm_at_the_provider_instead_of_typing_a_code(
    settings: Settings, database: str, idp: Idp
) -> None:
    officer = await make_user("officer", Role.compliance_officer)
    idp.set_account("olga-1", preferred_username="olga", groups=["booking-owners"])
    page_url, form_url = f"/admin/users/{officer.id}?lang=en", f"/admin/users/{officer.id}/mfa-reset?lang=en"
    async with sso_client(settings, idp, APPLIANCE_OIDC_ROLE_MAP="booking-owners=owner") as client, \
            httpx.AsyncClient(timeout=10) as browser:
        await client.get(relative(await sign_in_at_idp(client, idp, "olga-1", browser=browser)))
        headers = {"HX-Request": "true", "Origin": APP_URL,
                   "X-CSRF-Token": (await client.get("/api/v1/auth/me")).json()["csrf_token"]}
        before = (await client.get(page_url)).text
        unconfirmed = await client.post(form_url, headers=headers, data={"reason": "lost phone"})
        link = f"/api/v1/auth/oidc/step-up?return_to=/admin/users/{officer.id}"
        back = await client.get(relative(await sign_in_at_idp(client, idp, "olga-1", browser=browser, start_at=link)))
        confirmed = (await client.get(page_url)).text
        done = await client.post(form_url, headers=headers, data={"reason": "lost phone"})

    assert f'href="{link}"' in before and 'name="code"' not in before
    assert unconfirmed.status_code == 403 and "Confirm at your identity provider first." in unconfirmed.text
    assert back.headers["location"] == f"{APP_URL}/admin/users/{officer.id}"
    assert "You confirmed at your identity provider" in confirmed and f'href="{link}"' not in confirmed
    assert done.status_code == 200 and done.headers["hx-location"] == f"/admin/users/{officer.id}"
    row = await User.select(User.totp_confirmed_at).where(User.id == officer.id).first()
    assert row == {"totp_confirmed_at": None}
