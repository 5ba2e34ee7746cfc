"""Consent flags on both engines: changed through the API with when and how, audited by purpose, shown
in the 360 view; a refused channel is the opt-out the notifications read (one record, not two)."""

from __future__ import annotations

from typing import get_args

import httpx

from appliance.auth.roles import Role
from appliance.customers.logic import CONSENT_PURPOSES, CONSENT_SOURCES, most_restrictive
from appliance.customers.schemas import ConsentPurpose, ConsentSource
from appliance.customers.tables import CustomerConsent
from appliance.notifications.catalogue import CHANNELS
from appliance.testing.builders import sign_in_as
from tests.appliance.customers.support import audit_of, customer_of, one_customer
from tests.appliance.notifications.support import problems


def test_purposes_cover_every_message_channel_and_the_schema_agrees() -> None:
    assert set(CHANNELS) <= set(CONSENT_PURPOSES)
    assert get_args(ConsentPurpose) == CONSENT_PURPOSES and get_args(ConsentSource) == CONSENT_SOURCES


def test_the_most_restrictive_choice_wins() -> None:
    assert most_restrictive(True, False) is False and most_restrictive(None, False) is False
    assert most_restrictive(None, True) is True and most_restrictive(None, None) is None


async def test_staff_record_consent_shown_in_the_360_view_and_audited(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client)
    path = f"/api/v1/customers/{customer_id}/consent"

    changed = await client.patch(path, json={"consent": {"marketing": True, "sms": False}, "source": "portal"})
    again = await client.patch(path, json={"consent": {"marketing": True}})  # nothing new: no audit entry

    assert changed.status_code == 200 and again.status_code == 200
    choices = {c["purpose"]: c for c in (await customer_of(client, 1))["consent"]}
    assert [c for c in choices] == list(CONSENT_PURPOSES)
    assert (choices["marketing"]["granted"], choices["marketing"]["source"]) == (True, "portal")
    assert choices["marketing"]["changed_at"] is not None
    assert (choices["sms"]["granted"], choices["email"]["granted"], choices["email"]["changed_at"]) == (False, None, None)
    opt_outs = await client.get(f"/api/v1/customers/{customer_id}/opt-outs")
    assert opt_outs.json()["channels"] == ["sms"]  # the notifications see the same record
    entries = [e for e in await audit_of(customer_id) if e["action"] == "customer.consent_changed"]
    assert [e["details"] for e in entries] == [{"consent": {"marketing": True, "sms": False}, "source": "portal"}]


async def test_opting_out_through_notifications_is_a_refused_consent(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client)

    await client.put(f"/api/v1/customers/{customer_id}/opt-outs/email")
    await client.patch(f"/api/v1/customers/{customer_id}/consent", json={"consent": {"wecom": False}})

    consent = {c["purpose"]: c["granted"] for c in (await client.get(f"/api/v1/customers/{customer_id}/consent")).json()}
    assert (consent["email"], consent["wecom"]) == (False, False)
    assert (await client.get(f"/api/v1/customers/{customer_id}/opt-outs")).json()["channels"] == ["email", "wecom"]
    await client.delete(f"/api/v1/customers/{customer_id}/opt-outs/email")
    assert await CustomerConsent.count() == 2  # one row per purpose, email now agreed
    assert (await client.get(f"/api/v1/customers/{customer_id}/opt-outs")).json()["channels"] == ["wecom"]


async def test_bad_consent_is_a_422_naming_the_field_and_changes_nothing(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client)
    path = f"/api/v1/customers/{customer_id}/consent"

    bad_purpose = await client.patch(path, json={"consent": {"fax": True}})
    bad_value = await client.patch(path, json={"consent": {"sms": "yes"}})

    assert bad_purpose.status_code == 422 and bad_value.status_code == 422
    assert "consent" in next(iter(problems(bad_value)))
    assert await CustomerConsent.count() == 0


async def test_a_reader_cannot_change_consent(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client, Role.owner)
    await sign_in_as(client, "compliance", Role.compliance_officer)

    assert (await client.patch(f"/api/v1/customers/{customer_id}/consent", json={"consent": {"sms": True}})).status_code == 403
    assert await CustomerConsent.count() == 0
