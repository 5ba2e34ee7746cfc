"""Customers' personal data shown to someone, audited as revealed: the list and the 360 view, the same
entries whether the API or the admin pages showed them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from uuid import UUID

from appliance.audit.trail import record_reveal
from appliance.auth.actor import Actor
from appliance.customers.actions import subject

# The personal fields a list or the 360 view shows, opened from their sealed columns.
SUMMARY_FIELDS: Final = ("name", "phone", "email")
DETAIL_FIELDS: Final = (
    "name", "phone", "extra_phones", "email", "gender", "birthday", "preferences", "custom_fields", "notes", "interactions",
)


async def record_listed(customer_ids: Sequence[UUID], *, actor: Actor, fields: Sequence[str] = SUMMARY_FIELDS) -> None:
    """customers.listed: which customers a list showed, and which of their fields (nothing when it showed
    none)."""
    if customer_ids:
        await record_reveal(
            "customers.listed", actor=actor, fields=fields,
            details={"count": len(customer_ids), "customer_ids": [str(c) for c in customer_ids]},
        )


async def record_viewed(customer_id: UUID, *, actor: Actor) -> None:
    await record_reveal("customer.viewed", actor=actor, target=subject(customer_id), fields=DETAIL_FIELDS)
