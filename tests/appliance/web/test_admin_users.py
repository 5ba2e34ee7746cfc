"""The users pages on both engines: the list shows roles and branches; accounts are created (with a
password or SSO-only), disabled and enabled, their roles changed within GRANTABLE_BY, a lost second
factor reset with the owner's own code; roles without users.manage are refused."""

from __future__ import annotations

import re

import httpx

from appliance.auth.roles import Role
from appliance.auth.tables import User
from appliance.testing.builders import make_branch, make_user, second_factor, sign_in
from tests.appliance.web.ops_support import staff


async def user_row(username: str) -> dict[str, object]:
    row = await User.select(User.id, User.active, User.password_hash, User.totp_confirmed_at).where(
        User.username == username
    ).first()
    assert row is not None
    return row


async def test_the_list_shows_each_account_with_its_roles_and_branches(client: httpx.AsyncClient) -> None:
    branch = await make_branch("静安店")
    await make_user("desk.wang", Role.front_desk, branch_id=branch.id)
    await staff(client, "boss", Role.owner)

    page = await client.get("/admin/users?lang=en")

    assert page.status_code == 200
    row = page.text.split("desk.wang", 1)[1].split("</tr>", 1)[0]
    assert "Front desk @ 静安店" in row and "Active" in row
    assert 'href="/admin/users/new"' in page.text


async def test_an_owner_creates_a_password_account_and_an_sso_only_one(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    headers = await staff(client, "boss", Role.owner)

    with_password = await client.post("/admin/users/", headers=headers, data={
        "username": "desk.li", "display_name": "李", "sign_in": "password", "password": "a long enough passphrase 42",
        "grant-0-role": "front_desk", "grant-0-branch": str(branch.id),
    })
    sso_only = await client.post("/admin/users/", headers=headers, data={
        "username": "mgr.zhao", "sign_in": "sso", "password": "ignored", "grant-0-role": "manager",
        "grant-0-branch": str(branch.id),
    })

    assert with_password.status_code == 200 and with_password.headers["hx-location"] == "/admin/users"
    assert sso_only.status_code == 200
    assert (await user_row("desk.li"))["password_hash"] is not None
    assert (await user_row("mgr.zhao"))["password_hash"] is None


async def test_a_bad_username_and_a_taken_one_are_said_next_to_the_input(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "boss", Role.owner)

    bad = await client.post("/admin/users/?lang=en", headers=headers, data={
        "username": "not ok!", "sign_in": "sso", "grant-0-role": "compliance_officer",
    })
    taken = await client.post("/admin/users/?lang=en", headers=headers, data={
        "username": "boss", "sign_in": "sso", "grant-0-role": "compliance_officer",
    })
    no_role = await client.post("/admin/users/?lang=en", headers=headers, data={"username": "x", "sign_in": "sso"})

    assert bad.status_code == 422 and 'aria-describedby="username-error"' in bad.text
    assert taken.status_code == 409 and "That username is taken." in taken.text
    assert no_role.status_code == 422 and 'id="grant-0-role-error"' in no_role.text
    assert await User.count() == 1


async def test_a_manager_may_not_create_a_manager(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_user("mgr", Role.manager, branch_id=branch.id)
    me = await sign_in(client, "mgr")
    headers = {"HX-Request": "true", "X-CSRF-Token": me["csrf_token"], "Origin": "https://testserver"}

    form = await client.get("/admin/users/new?lang=en")
    refused = await client.post("/admin/users/?lang=en", headers=headers, data={
        "username": "mgr2", "sign_in": "sso", "grant-0-role": "manager", "grant-0-branch": str(branch.id),
    })

    assert 'value="manager"' not in form.text and 'value="front_desk"' in form.text  # only what it may grant
    assert refused.status_code == 403 and "Your role may not do this." in refused.text
    assert await User.count() == 1


async def test_an_owner_disables_enables_and_changes_roles(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    desk = await make_user("desk", Role.front_desk, branch_id=branch.id)
    headers = await staff(client, "boss", Role.owner)

    disabled = await client.post(f"/admin/users/{desk.id}/disable", headers=headers)
    assert disabled.status_code == 200 and (await user_row("desk"))["active"] is False
    assert "Disabled" in (await client.get(f"/admin/users/{desk.id}?lang=en")).text
    enabled = await client.post(f"/admin/users/{desk.id}/enable", headers=headers)
    assert enabled.status_code == 200 and (await user_row("desk"))["active"] is True
    changed = await client.post(f"/admin/users/{desk.id}/grants", headers=headers, data={
        "grant-0-role": "manager", "grant-0-branch": str(branch.id), "grant-1-role": "",
    })

    assert changed.status_code == 200
    page = await client.get(f"/admin/users/{desk.id}?lang=en")
    assert re.search(r"<li>Manager @ [^<]+</li>", page.text)


async def test_resetting_a_second_factor_asks_for_the_owners_own_code(client: httpx.AsyncClient) -> None:
    officer = await make_user("audit.li", Role.compliance_officer)
    headers = await staff(client, "boss", Role.owner)

    page = await client.get(f"/admin/users/{officer.id}?lang=en")
    wrong = await client.post(f"/admin/users/{officer.id}/mfa-reset?lang=en", headers=headers,
                              data={"reason": "lost phone", "code": "000000"})
    assert 'name="code"' in page.text
    assert wrong.status_code == 403 and 'id="code-error"' in wrong.text
    assert (await user_row("audit.li"))["totp_confirmed_at"] is not None

    code = (await second_factor("boss"))["totp"]
    done = await client.post(f"/admin/users/{officer.id}/mfa-reset", headers=headers,
                             data={"reason": "lost phone", "code": code})

    assert done.status_code == 200 and done.headers["hx-location"] == f"/admin/users/{officer.id}"
    assert (await user_row("audit.li"))["totp_confirmed_at"] is None


async def test_front_desk_may_not_see_or_change_accounts(client: httpx.AsyncClient) -> None:
    other = await make_user("other", Role.staff)
    headers = await staff(client, "front", Role.front_desk)

    assert (await client.get("/admin/users")).status_code == 403
    assert (await client.post("/admin/users/", headers=headers, data={"username": "x"})).status_code == 403
    assert (await client.post(f"/admin/users/{other.id}/disable", headers=headers)).status_code == 403
    assert (await user_row("other"))["active"] is True


async def test_a_compliance_officer_reads_accounts_but_is_offered_no_changes(client: httpx.AsyncClient) -> None:
    desk = await make_user("desk", Role.front_desk)
    await staff(client, "auditor", Role.compliance_officer)

    listing = await client.get("/admin/users")
    account = await client.get(f"/admin/users/{desk.id}")

    assert listing.status_code == 200 and "/admin/users/new" not in listing.text
    assert account.status_code == 200 and "hx-post" not in account.text.split('<main', 1)[1]
