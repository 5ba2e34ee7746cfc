"""The only code that writes customers."""

from __future__ import annotations

from uuid import UUID, uuid4

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Invalid
from appliance.customers.logic import normalise_email, normalise_phone
from appliance.customers.queries import find_customer_by_phone
from appliance.customers.schemas import CustomerContact
from appliance.customers.tables import Customer
from appliance.events.envelope import Subject


def validated_contact(contact: CustomerContact, *, field: str = "customer") -> tuple[str, str, str | None]:
    """(name, E.164 phone, email) or Invalid naming the bad part."""
    phone = normalise_phone(contact.phone)
    email = normalise_email(contact.email) if contact.email else None
    problems = {}
    if phone is None:
        problems[f"{field}.phone"] = "not a valid phone number"
    if contact.email and email is None:
        problems[f"{field}.email"] = "not a valid email address"
    if not contact.name.strip():
        problems[f"{field}.name"] = "required"
    if problems:
        raise Invalid(problems)
    assert phone is not None
    return contact.name.strip(), phone, email


async def match_or_create_customer(contact: CustomerContact, *, channel: str, actor: Actor) -> UUID:
    """The customer with this phone number, or a new one. Joins the caller's transaction."""
    name, phone, email = validated_contact(contact)
    async with write_transaction():
        if (existing := await find_customer_by_phone(phone)) is not None:
            return existing
        now = utc_now()
        customer_id = uuid4()
        await Customer.insert(
            Customer(id=customer_id, name=name, phone=phone, email=email, source_channel=channel, created_at=now, updated_at=now)
        )
        await record_change(
            "customer.created", Subject("customer", str(customer_id)),
            {"customer_id": str(customer_id), "source_channel": channel}, actor=actor,
            changed_fields=["name", "phone"] + (["email"] if email else []),
        )
        return customer_id
