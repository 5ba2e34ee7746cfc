"""Reading bookings' sealed fields (form answers, notes) is audited as revealed, through the API and the
admin pages, on both engines; a booking with neither reveals nothing and is not named."""

from __future__ import annotations

import httpx

from appliance.audit.tables import AuditEntry
from appliance.testing.builders import sign_in_as
from tests.appliance.bookings.test_api import next_weekday
from tests.appliance.forms.test_api import create_form, massage_service

REVEALS = ["bookings.listed", "booking.viewed", "customers.listed"]


async def reveals() -> list[dict[str, object]]:
    rows = await AuditEntry.select(AuditEntry.action, AuditEntry.target_id, AuditEntry.details).where(
        AuditEntry.action.is_in(REVEALS)
    ).order_by(AuditEntry.occurred_at).output(load_json=True)
    return list(rows)


async def test_answers_and_notes_shown_by_the_api_and_the_pages_are_audited_by_booking(client: httpx.AsyncClient) -> None:
    service, formless = await massage_service(), await massage_service(name="足疗")
    me = await sign_in_as(client, "owner")
    await create_form(client, service.id)
    day = next_weekday(2)
    answered = (await client.post("/api/v1/bookings", json={
        "service_id": str(service.id), "starts_at": f"{day}T10:00:00+08:00", "notes": "生日惊喜",
        "customer": {"name": "欧阳娜娜", "phone": "13912345678"},
        "answers": {"has_allergy": True, "allergy": "薰衣草", "pressure": "soft", "contact": "13811112222"},
    })).json()["booking"]
    plain = (await client.post("/api/v1/bookings", json={  # no form, no notes: nothing sealed to show
        "service_id": str(formless.id), "starts_at": f"{day}T14:00:00+08:00",
        "customer": {"name": "李雷", "phone": "13700000001"},
    })).json()["booking"]

    assert (await client.get("/api/v1/bookings")).status_code == 200
    assert (await client.get(f"/api/v1/bookings/{answered['id']}")).status_code == 200
    assert (await client.get(f"/api/v1/bookings/{plain['id']}")).status_code == 200
    page = await client.get(f"/admin/bookings/{answered['id']}", headers={"X-CSRF-Token": me["csrf_token"]})

    assert page.status_code == 200
    found = await reveals()
    assert [(e["action"], e["target_id"]) for e in found] == [
        ("bookings.listed", None), ("booking.viewed", answered["id"]),
        ("customers.listed", None), ("booking.viewed", answered["id"]),
    ]
    assert found[0]["details"] == {"count": 1, "booking_ids": [answered["id"]], "fields": ["answers", "notes"]}
    assert found[2]["details"] == {
        "count": 1, "customer_ids": [answered["customer_id"]], "fields": ["name", "phone"],
    }
    assert plain["id"] not in str(found) and "薰衣草" not in str(found)
