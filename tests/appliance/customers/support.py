"""Helpers of the customer tests: a shop to book in, bookings made, completed and paid through the actions,
and checks on what the audit log keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.bookings import actions as bookings
from appliance.auth.roles import Role
from appliance.bookings.states import PaymentStatus
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service, requirement, sign_in_as

SHANGHAI = ZoneInfo("Asia/Shanghai")
PRICE = 19800  # ¥198.00


@dataclass(frozen=True)
class Shop:
    branch_id: UUID
    staff_id: UUID
    service_id: UUID  # 精油按摩, an hour, ¥198
    facial_id: UUID  # 面部护理, an hour, ¥398


async def shop() -> Shop:
    branch = await make_branch("静安店")
    staff = await make_resource(branch.id, name="王芳", skills=["massage", "facial"], capacity=4)
    massage = await make_service(branch.id, "精油按摩", 60, price={"amount": PRICE, "currency": "CNY"})
    facial = await make_service(
        branch.id, "面部护理", 60, [requirement("staff", "facial")], price={"amount": 39800, "currency": "CNY"},
    )
    return Shop(branch.id, staff.id, massage.id, facial.id)


def slot(days: int, hour: int) -> datetime:
    """`days` from today at `hour`:00 in Shanghai."""
    day = datetime.now(SHANGHAI).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


async def book(service_id: UUID, days: int, hour: int, n: int = 1, *, name: str = "韩梅梅", email: str | None = None) -> UUID:
    """A booking for customer n (phone +86139000000nn)."""
    return await make_booking(service_id, slot(days, hour), name=name, phone=phone(n), email=email)


def phone(n: int) -> str:
    return f"+86139000000{n:02d}"


async def complete(booking_id: UUID) -> None:
    await bookings.transition_booking(booking_id, "complete", actor=cli_actor())


async def pay(booking_id: UUID, status: PaymentStatus = PaymentStatus.paid) -> None:
    await bookings.set_payment_status(booking_id, status, actor=cli_actor())


async def customer_of(client: httpx.AsyncClient, n: int) -> dict[str, Any]:
    """The 360 view of customer n, found by phone."""
    found = await client.get("/api/v1/customers", params={"phone": phone(n)})
    assert found.status_code == 200, found.text
    [item] = found.json()["items"]
    view = await client.get(f"/api/v1/customers/{item['id']}")
    assert view.status_code == 200, view.text
    body: dict[str, Any] = view.json()
    return body


# Audit entries of personal data shown (field encryption opens it): reads, not changes.
REVEALS = (
    "customer.viewed", "customer.notes_viewed", "customer.communications_viewed", "customers.listed", "customer.merge_viewed",
)


async def audit_of(customer_id: str, *, reveals: bool = False) -> list[dict[str, Any]]:
    """The customer's audit entries, oldest first: the changes, and with `reveals` the reads too."""
    query = AuditEntry.select(
        AuditEntry.action, AuditEntry.actor_id, AuditEntry.changed_fields, AuditEntry.details,
    ).where(AuditEntry.target_id == customer_id).order_by(AuditEntry.occurred_at)
    if not reveals:
        query = query.where(AuditEntry.action.not_in(list(REVEALS)))
    return list(await query.output(load_json=True))


async def one_customer(client: httpx.AsyncClient, role: Role = Role.front_desk) -> str:
    """A shop with customer 1's booking, and `client` signed in with `role`; customer 1's id."""
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, f"user-{role.value}", role)
    customer_id: str = (await customer_of(client, 1))["id"]
    return customer_id
