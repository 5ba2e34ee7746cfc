"""An owner resets another account's authenticator app (a lost phone): with a fresh code of their own,
never on themselves; the account's sessions end and it enrols again at its next sign-in."""

from __future__ import annotations

import httpx
from litestar import Litestar

from appliance.audit.tables import AuditEntry
from appliance.auth.roles import Role
from appliance.auth.tables import RecoveryCode, User
from appliance.testing.builders import DEFAULT_PASSWORD, make_user, second_factor, sign_in, sign_in_as

REASON = "lost phone, ticket 4711"


def reset_url(user_id: object) -> str:
    return f"/api/v1/users/{user_id}/mfa/reset"


async def refusals() -> list[str]:
    rows = await AuditEntry.select(AuditEntry.reason).where(
        (AuditEntry.action == "auth.mfa_reset") & (AuditEntry.result == "denied")
    ).order_by(AuditEntry.occurred_at)
    return [r["reason"] for r in rows]


async def test_an_owner_resets_another_accounts_second_factor_which_ends_its_sessions_and_forces_enrolment(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    # given an owner, and a compliance officer signed in elsewhere with an authenticator app
    await sign_in_as(client, "boss")
    officer = await make_user("audit.li", Role.compliance_officer)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as elsewhere:
        await sign_in(elsewhere, "audit.li")
        assert (await elsewhere.get("/api/v1/auth/me")).status_code == 200

        # when the owner resets it, confirming with a current code of their own app
        step_up = (await second_factor("boss"))["totp"]
        response = await client.post(reset_url(officer.id), json={"reason": REASON, "totp": step_up})

        # then its session has ended
        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(officer.id)
        assert (await elsewhere.get("/api/v1/auth/me")).status_code == 401

        # and its next sign-in needs no code but holds no role until it sets up a new app
        login = await elsewhere.post("/api/v1/auth/login", json={"username": "audit.li", "password": DEFAULT_PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["mfa_enrolment_required"] is True and login.json()["permissions"] == []
    row = await User.select(User.totp_secret, User.totp_confirmed_at).where(User.id == officer.id).first()
    assert row == {"totp_secret": None, "totp_confirmed_at": None}
    assert await RecoveryCode.count().where(RecoveryCode.user == officer.id) == 0
    entry = await AuditEntry.select(
        AuditEntry.actor_label, AuditEntry.target_id, AuditEntry.reason, AuditEntry.result, AuditEntry.changed_fields
    ).where(AuditEntry.action == "auth.mfa_reset").output(load_json=True).first()
    assert entry == {
        "actor_label": "boss", "target_id": str(officer.id), "reason": REASON, "result": "success",
        "changed_fields": ["recovery_codes", "session_epoch", "totp_confirmed_at", "totp_secret"],
    }
    # the code that confirmed the reset is spent: it cannot confirm another one
    again = await client.post(reset_url(officer.id), json={"reason": REASON, "totp": step_up})
    assert again.status_code == 403 and again.json()["code"] == "step_up_required"


async def test_a_reset_without_a_fresh_code_of_ones_own_or_on_oneself_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    me = await sign_in_as(client, "boss")
    other = await make_user("boss2", Role.owner)

    missing = await client.post(reset_url(other.id), json={"reason": REASON})
    wrong = await client.post(reset_url(other.id), json={"reason": REASON, "totp": "000000"})
    own = await client.post(reset_url(me["user"]["id"]), json={"reason": REASON, "totp": (await second_factor("boss"))["totp"]})
    no_reason = await client.post(reset_url(other.id), json={"reason": "    ", "totp": "123456"})
    unknown_field = await client.post(reset_url(other.id), json={"reason": REASON, "totp": "1", "user": "x"})

    assert [missing.status_code, wrong.status_code, own.status_code] == [403, 403, 403]
    assert [r.json()["code"] for r in (missing, wrong, own)] == ["step_up_required", "step_up_required", "mfa_reset_self"]
    assert no_reason.status_code == 422 and unknown_field.status_code == 422
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in (missing, own, no_reason))
    confirmed = await User.select(User.totp_confirmed_at).where(User.totp_confirmed_at.is_not_null())
    assert len(confirmed) == 2
    assert await refusals() == ["step_up_failed", "step_up_failed", "own_account"]
    assert await AuditEntry.count().where((AuditEntry.action == "auth.mfa_reset") & (AuditEntry.result == "success")) == 0


async def test_only_owners_reset_a_second_factor(client: httpx.AsyncClient) -> None:
    officer = await make_user("audit.li", Role.compliance_officer)
    await sign_in_as(client, "mgr", Role.manager)  # may manage users, but not this

    by_manager = await client.post(reset_url(officer.id), json={"reason": REASON, "totp": "123456"})
    client.cookies.clear()
    await sign_in_as(client, "desk", Role.front_desk)
    by_front_desk = await client.post(reset_url(officer.id), json={"reason": REASON, "totp": "123456"})

    assert by_manager.status_code == 403 and by_front_desk.status_code == 403
    assert await refusals() == ["not_owner"]  # the front desk never reaches the action: the route's guard refuses
    assert await User.count().where(User.totp_confirmed_at.is_not_null()) == 1


async def test_an_account_without_a_second_factor_has_nothing_to_reset(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "boss")
    desk = await make_user("desk", Role.front_desk)

    response = await client.post(reset_url(desk.id), json={"reason": REASON, "totp": (await second_factor("boss"))["totp"]})

    assert response.status_code == 409 and response.json()["code"] == "mfa_not_enrolled"
