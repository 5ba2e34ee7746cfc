"""Customer lookups. Exact-match search goes through here so blind indexes can replace plain columns."""

from __future__ import annotations

from uuid import UUID

from appliance.customers.tables import Customer


async def find_customer_by_phone(phone_e164: str) -> UUID | None:
    row = await Customer.select(Customer.id).where(Customer.phone == phone_e164).first()
    return row["id"] if row else None
