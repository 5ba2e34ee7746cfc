"""TOTP second factor for owner and compliance_officer local accounts: enrolment, the check at sign-in,
one-time codes and recovery codes."""

from __future__ import annotations

import time

import httpx

from appliance.auth import totp
from appliance.auth.actions import create_user
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.auth.schemas import GrantBody, UserCreate
from appliance.auth.tables import RecoveryCode
from appliance.testing.builders import DEFAULT_PASSWORD, RECOVERY_CODES, TOTP_SECRETS, make_user, second_factor

LOGIN = "/api/v1/auth/login"


def test_hotp_and_totp_match_the_rfc_test_vectors() -> None:
    # RFC 4226 appendix D and RFC 6238 appendix B (SHA-1 seed "12345678901234567890")
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert [totp.hotp(secret, c) for c in range(3)] == ["755224", "287082", "359152"]
    assert totp.code_at(secret, 59) == "287082"  # 94287082 truncated to 6 digits
    assert totp.code_at(secret, 1111111109) == "081804"
    assert totp.code_at(secret, 2000000000) == "279037"


def test_a_code_is_good_once_and_only_within_the_drift_window() -> None:
    secret = totp.new_secret()
    now = 1_700_000_000.0
    step = totp.step_at(now)

    assert totp.matching_step(secret, totp.code_at(secret, now), now, after_step=0) == step
    assert totp.matching_step(secret, totp.code_at(secret, now - 30), now, after_step=0) == step - 1
    assert totp.matching_step(secret, totp.code_at(secret, now - 90), now, after_step=0) is None
    assert totp.matching_step(secret, totp.code_at(secret, now), now, after_step=step) is None
    assert totp.matching_step(secret, "12345", now, after_step=0) is None


async def test_an_owner_without_a_second_factor_may_only_enrol_then_gets_their_role(client: httpx.AsyncClient) -> None:
    # given an owner account created without a second factor (as `appliance up` creates the first one)
    owner = UserCreate(username="boss", password=DEFAULT_PASSWORD, grants=[GrantBody(Role.owner)])
    await create_user(owner, actor=cli_actor())

    # when they sign in with the password alone
    login = await client.post(LOGIN, json={"username": "boss", "password": DEFAULT_PASSWORD})

    # then they are in, but hold no role until they set up the authenticator app
    assert login.status_code == 200, login.text
    assert login.json()["mfa_enrolment_required"] is True
    assert login.json()["permissions"] == []
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    assert (await client.get("/api/v1/branches", headers=csrf)).status_code == 403
    wrong_password = await client.post("/api/v1/auth/mfa/totp", json={"password": "not my password!"}, headers=csrf)
    assert wrong_password.status_code == 422
    enrolment = await client.post("/api/v1/auth/mfa/totp", json={"password": DEFAULT_PASSWORD}, headers=csrf)
    assert enrolment.status_code == 200, enrolment.text
    secret = enrolment.json()["secret"]
    assert enrolment.json()["otpauth_uri"].startswith("otpauth://totp/Booking%20appliance:boss?secret=" + secret)
    bad = await client.post("/api/v1/auth/mfa/totp/confirm", json={"code": "000000"}, headers=csrf)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "code"
    old_cookie = client.cookies.get("__Host-appliance-session")
    confirmed = await client.post("/api/v1/auth/mfa/totp/confirm", json={"code": totp.code_at(secret, time.time())}, headers=csrf)
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert confirmed.json()["me"]["permissions"]  # a new session with the owner's permissions
    assert client.cookies.get("__Host-appliance-session") != old_cookie
    stored = [r["code_hash"] for r in await RecoveryCode.select(RecoveryCode.code_hash)]
    assert len(stored) == 10 and not set(stored) & {c.replace("-", "") for c in codes}  # only hashes are kept
    new_csrf = {"X-CSRF-Token": confirmed.json()["me"]["csrf_token"]}
    assert (await client.get("/api/v1/branches", headers=new_csrf)).status_code == 200


async def test_an_enrolled_owner_needs_the_code_and_a_code_is_good_once(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    password_only = await client.post(LOGIN, json={"username": "boss", "password": DEFAULT_PASSWORD})
    factor = await second_factor("boss")

    first = await client.post(LOGIN, json={"username": "boss", "password": DEFAULT_PASSWORD, **factor})
    replayed = await client.post(LOGIN, json={"username": "boss", "password": DEFAULT_PASSWORD, **factor})

    assert password_only.status_code == 401 and password_only.json()["code"] == "mfa_required"
    assert first.status_code == 200 and first.json()["auth_method"] == "password+totp"
    assert replayed.status_code == 401 and replayed.json()["code"] == "mfa_failed"


async def test_a_recovery_code_signs_in_once(client: httpx.AsyncClient) -> None:
    await make_user("auditor", Role.compliance_officer)
    code = RECOVERY_CODES["auditor"][0].lower()  # typed in lower case: still accepted

    first = await client.post(LOGIN, json={"username": "auditor", "password": DEFAULT_PASSWORD, "recovery_code": code})
    again = await client.post(LOGIN, json={"username": "auditor", "password": DEFAULT_PASSWORD, "recovery_code": code})

    assert first.status_code == 200 and first.json()["auth_method"] == "recovery_code"
    assert again.status_code == 401 and again.json()["code"] == "mfa_failed"
    assert await RecoveryCode.count().where(RecoveryCode.used_at.is_not_null()) == 1


async def test_a_wrong_code_is_refused_even_with_the_right_password(client: httpx.AsyncClient) -> None:
    await make_user("boss", Role.owner)
    right = totp.code_at(TOTP_SECRETS["boss"], time.time())
    wrong = str((int(right) + 1) % 1_000_000).zfill(6)

    response = await client.post(LOGIN, json={"username": "boss", "password": DEFAULT_PASSWORD, "totp": wrong})

    assert response.status_code == 401 and response.json()["code"] == "mfa_failed"
    assert client.cookies.get("__Host-appliance-session") is None


async def test_roles_without_the_requirement_sign_in_with_a_password(client: httpx.AsyncClient) -> None:
    await make_user("clerk", Role.front_desk)

    response = await client.post(LOGIN, json={"username": "clerk", "password": DEFAULT_PASSWORD})

    assert response.status_code == 200 and response.json()["mfa_enrolment_required"] is False
    assert response.json()["auth_method"] == "password"
