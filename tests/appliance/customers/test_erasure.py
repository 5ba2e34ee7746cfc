"""Erasure of a customer's personal data (PIPL art. 47) by overwrite: the anonymous remainder stays for
the accounts, the person can no longer be found, the audit log still verifies, and refusals say why."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import httpx

from appliance.audit.actions import export_audit_log
from appliance.audit.tables import AuditEntry
from appliance.audit.verify import verify_bundle
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.bookings import actions as bookings
from appliance.bookings.tables import Booking
from appliance.customers.schemas import CustomerContact
from appliance.customers.tables import Customer, CustomerNote, PointsEntry
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_profile_form, sign_in_as
from tests.appliance.customers.support import complete, pay, phone, shop, slot
from tests.appliance.exports.test_export_restore import tables_of

NAME, EMAIL, NOTE, BOOKING_NOTE = "韩梅梅", "meimei.han@example.com", "对花生过敏，喜欢安静的房间", "生日那天来，带朋友"
PERSONAL = [NAME, phone(1), phone(1)[-4:] + '"', EMAIL, NOTE, BOOKING_NOTE, "1990-05-17", "花生过敏", "靠窗"]
REASON = "PIPL 删除申请 #42"


async def a_customer_with_history(client: httpx.AsyncClient) -> tuple[str, UUID]:
    """A customer with a profile, a tag, a note and a paid booking with a note: (customer id, booking id)."""
    place = await shop()
    created = await bookings.create_booking(
        bookings.NewBooking(
            service_id=place.service_id, starts_at=slot(2, 10), channel="web", notes=BOOKING_NOTE,
            customer=CustomerContact(name=NAME, phone=phone(1), email=EMAIL),
        ),
        actor=cli_actor(), staff=True,
    )
    booking_id = created.booking.id
    customer_id = str(created.booking.customer_id)
    await make_profile_form(texts=["vip"])
    profile = {"birthday": "1990-05-17", "gender": "female", "preferences": {"room": "靠窗"}, "custom_fields": {"vip": "yes"}}
    assert (await client.patch(f"/api/v1/customers/{customer_id}", json=profile)).status_code == 200
    assert (await client.post(f"/api/v1/customers/{customer_id}/tags", json={"tags": ["花生过敏"]})).status_code == 200
    assert (await client.post(f"/api/v1/customers/{customer_id}/notes", json={"body": NOTE})).status_code == 201
    await pay(booking_id)
    return customer_id, booking_id


async def test_erasure_overwrites_the_personal_data_keeps_the_anonymous_remainder_and_the_audit_log_verifies(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # given a customer with an open booking
    await sign_in_as(client, "boss")
    customer_id, booking_id = await a_customer_with_history(client)
    points_before = await PointsEntry.count().where(PointsEntry.customer == customer_id)

    # when erasure is asked while the booking is open, it is refused, says why, and changes nothing
    refused = await client.post(f"/api/v1/customers/{customer_id}/erase", json={"reason": REASON})
    assert refused.status_code == 409 and refused.json()["code"] == "erasure_refused", refused.text
    assert "open booking" in refused.json()["detail"]
    assert (await client.get("/api/v1/customers", params={"phone": phone(1)})).json()["items"]

    # and once the booking is done, a compliance officer erases the customer
    await complete(booking_id)
    client.cookies.clear()
    await sign_in_as(client, "audit.li", Role.compliance_officer)
    erased = await client.post(f"/api/v1/customers/{customer_id}/erase", json={"reason": REASON})
    again = await client.post(f"/api/v1/customers/{customer_id}/erase", json={"reason": REASON})

    # then the record is anonymous, and nobody finds the person by phone or email any more
    assert erased.status_code == 200, erased.text
    assert erased.json()["id"] == customer_id and erased.json()["erased_at"]
    assert again.status_code == 409 and again.json()["code"] == "erasure_refused"
    client.cookies.clear()
    await sign_in_as(client, "boss2")
    view = (await client.get(f"/api/v1/customers/{customer_id}")).json()
    assert (view["name"], view["phone"], view["email"], view["birthday"], view["gender"]) == ("已删除", None, None, None, None)
    assert (view["tags"], view["preferences"], view["custom_fields"]) == ([], {}, {})
    assert view["erased_at"] is not None and [n["body"] for n in view["notes"]] == [""]
    for search in ({"phone": phone(1)}, {"email": EMAIL}, {"phone_last4": phone(1)[-4:]}, {"q": NAME}):
        assert (await client.get("/api/v1/customers", params=search)).json()["items"] == [], search
    stored = await Customer.select().where(Customer.id == customer_id).first()
    assert stored is not None
    assert [stored[c] for c in ("name_bidx", "phone_bidx", "phone_last4_bidx", "email_bidx")] == [None] * 4
    assert (stored["phone"], stored["email"], stored["birthday"], stored["gender"]) == (None, None, None, None)
    # its bookings stay for the accounts, without what the person told us; so does the points ledger
    booking = await Booking.select(Booking.customer, Booking.status, Booking.notes, Booking.price_amount).where(
        Booking.id == booking_id
    ).first()
    assert booking is not None and booking["customer"] == UUID(customer_id) and booking["notes"] == ""
    assert booking["status"] == "completed" and booking["price_amount"] > 0
    assert await PointsEntry.count().where(PointsEntry.customer == customer_id) == points_before > 0
    assert await CustomerNote.count().where(CustomerNote.customer == customer_id) == 1
    # and it cannot be filled in again
    refill = await client.patch(f"/api/v1/customers/{customer_id}", json={"name": NAME})
    assert refill.status_code == 409 and refill.json()["code"] == "customer_erased"

    # the erasure and both refusals are audited with the request, the event is out, and the log verifies
    entries = await AuditEntry.select(AuditEntry.action, AuditEntry.result, AuditEntry.reason, AuditEntry.details).where(
        AuditEntry.action.is_in(["customer.erased", "customer.erasure_refused"])
    ).order_by(AuditEntry.occurred_at).output(load_json=True)
    assert [(e["action"], e["result"], e["reason"]) for e in entries] == [
        ("customer.erasure_refused", "denied", REASON), ("customer.erased", "success", REASON),
        ("customer.erasure_refused", "denied", REASON),
    ]
    assert [entries[0]["details"]["refusal"], entries[2]["details"]["refusal"]] == ["open_bookings", "already_erased"]
    assert entries[1]["details"] == {
        "bookings_kept": 1, "tags_removed": 1, "extra_phones_removed": 0, "merged_records_erased": 0,
    }
    assert await OutboxEvent.count().where(OutboxEvent.type == "customer.erased") == 1
    bundle = (await export_audit_log(tmp_path / "audit.zip", actor=cli_actor())).bundle
    report = verify_bundle(bundle.path)
    assert report.ok, report.problems

    # the customer's own archive (an access request after erasure) holds only the anonymous remainder
    archive = await client.post(f"/api/v1/customers/{customer_id}/export", json={"reason": "PIPL 查阅申请 #43"})
    assert archive.status_code == 200, archive.text
    _, rows = tables_of(archive.content)
    assert [c["name"] for c in rows["customer"]] == ["已删除"] and [b["id"] for b in rows["booking"]] == [str(booking_id)]
    text = json.dumps(rows, ensure_ascii=False)
    assert [value for value in PERSONAL if value in text] == []


async def test_only_owners_and_compliance_officers_erase_and_a_reason_is_required(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "boss")
    customer_id, _ = await a_customer_with_history(client)

    no_reason = await client.post(f"/api/v1/customers/{customer_id}/erase", json={"reason": "  "})
    unknown = await client.post(f"/api/v1/customers/{UUID(int=7)}/erase", json={"reason": REASON})
    denied = {}
    for role in (Role.manager, Role.front_desk, Role.staff):
        client.cookies.clear()
        await sign_in_as(client, f"user.{role.value}", role)
        denied[role.value] = (await client.post(f"/api/v1/customers/{customer_id}/erase", json={"reason": REASON})).status_code

    assert no_reason.status_code == 422 and [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    assert unknown.status_code == 404
    assert denied == {"manager": 403, "front_desk": 403, "staff": 403}
    client.cookies.clear()
    await sign_in_as(client, "boss2")
    assert (await client.get("/api/v1/customers", params={"phone": phone(1)})).json()["items"]
    assert await AuditEntry.count().where(AuditEntry.action.like("customer.eras%")) == 0
