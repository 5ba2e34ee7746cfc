"""The loyalty programme (points rate, when bookings earn, expiry, the tier ladder) and membership tiers:
the only code that writes them. A customer's earned tier is the highest rung their lifetime value or
points earned reaches; staff may override it; the tier in force is the override, else the earned one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Forbidden, Invalid
from appliance.customers import schemas
from appliance.customers.logic import Tier, earned_tier, tiers_problems
from appliance.customers.queries import PROGRAMME_ID, get_programme, points_earned_of
from appliance.customers.tables import Customer, LoyaltyProgramme
from appliance.events.envelope import Subject

# Who changes what follows from other changes (points earned on payment, a tier reached).
SYSTEM = Actor(kind="system", id="loyalty", label="loyalty", auth_method="system", superuser=True)
BATCH = 1000


def _counts_points(tiers: Sequence[Tier]) -> bool:
    return any(t.min_points is not None for t in tiers)


async def refresh_tiers(
    customer_ids: Sequence[UUID], *, programme: schemas.LoyaltyProgramme, actor: Actor, audit_each: bool = True
) -> int:
    """Bring these customers' earned tier (and the tier in force) in line with their lifetime value and
    points; each change audited as `customer.tier_changed` unless the caller audits them as a whole.
    Joins the caller's transaction; returns how many changed."""
    if not customer_ids:
        return 0
    rows = await Customer.select(
        Customer.id, Customer.lifetime_value, Customer.earned_tier, Customer.tier_override, Customer.tier
    ).where(Customer.id.is_in(list(customer_ids)))
    earned_points = await points_earned_of(customer_ids) if _counts_points(programme.tiers) else {}
    changed = 0
    for row in rows:
        earned = earned_tier(programme.tiers, row["lifetime_value"], earned_points.get(row["id"], 0))
        tier = row["tier_override"] or earned
        fields = [name for name, old, new in (("earned_tier", row["earned_tier"], earned), ("tier", row["tier"], tier)) if old != new]
        if not fields:
            continue
        changed += 1
        await Customer.update({Customer.earned_tier: earned, Customer.tier: tier, Customer.updated_at: utc_now()}).where(
            Customer.id == row["id"]
        )
        if audit_each:
            await record_change(
                "customer.tier_changed", Subject("customer", str(row["id"])),
                {"customer_id": str(row["id"]), "tier": tier, "earned_tier": earned}, actor=actor, changed_fields=fields,
            )
    return changed


async def update_programme(data: schemas.LoyaltyProgrammeUpdate, *, actor: Actor) -> schemas.LoyaltyProgramme:
    """Replace the programme; audited before and after (it holds no personal data). A changed ladder
    re-ranks every customer in the same transaction, audited as one count, not a line per customer."""
    if actor.branch_scope(Permission.loyalty_manage) is not None:
        raise Forbidden("the loyalty programme spans every branch: this needs loyalty.manage in all of them")
    if problems := tiers_problems(data.tiers):
        raise Invalid(problems)
    async with write_transaction():
        before = await get_programme()
        after = schemas.LoyaltyProgramme(
            points_per_unit=data.points_per_unit, earn_on=data.earn_on, expiry_months=data.expiry_months,
            tiers=list(data.tiers), revision=before.revision + 1, updated_at=utc_now(),
        )
        changed = [f for f in schemas.LoyaltyProgrammeUpdate.__struct_fields__ if getattr(before, f) != getattr(after, f)]
        if not changed:
            return before
        if "tiers" in changed:
            await _refuse_dropping_overridden(after.tiers)
        values: dict[Any, Any] = {
            LoyaltyProgramme.points_per_unit: after.points_per_unit, LoyaltyProgramme.earn_on: after.earn_on,
            LoyaltyProgramme.expiry_months: after.expiry_months, LoyaltyProgramme.tiers: msgspec.to_builtins(after.tiers),
            LoyaltyProgramme.revision: after.revision, LoyaltyProgramme.updated_at: after.updated_at,
        }
        if before.revision == 0:
            await LoyaltyProgramme.insert(LoyaltyProgramme(id=PROGRAMME_ID, **{c._meta.name: v for c, v in values.items()}))
        else:
            await LoyaltyProgramme.update(values).where(LoyaltyProgramme.id == PROGRAMME_ID)
        reranked = await _rerank_everyone(after) if "tiers" in changed else 0
        await record_change(
            "loyalty.updated", Subject("loyalty", PROGRAMME_ID), {"revision": after.revision, "changed_fields": changed},
            actor=actor, changed_fields=changed,
            details={"before": _definition(before), "after": _definition(after), "tiers_changed": reranked},
        )
    return after


def _definition(programme: schemas.LoyaltyProgramme) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(programme)
    data.pop("updated_at", None)
    return data


async def _refuse_dropping_overridden(tiers: Sequence[Tier]) -> None:
    keys = [t.key for t in tiers]
    rows = await Customer.select(Customer.tier_override).where(
        Customer.tier_override.is_not_null() & Customer.tier_override.not_in(keys)
    ).distinct()
    if rows:
        gone = sorted(r["tier_override"] for r in rows)
        raise Invalid({"tiers": f"staff set tier {', '.join(gone)} on customers; clear those overrides first"})


async def _rerank_everyone(programme: schemas.LoyaltyProgramme) -> int:
    """Every customer's tier under a new ladder, in batches; returns how many changed (the programme's
    own audit entry records the count)."""
    changed = 0
    last: UUID | None = None
    while True:
        query = Customer.select(Customer.id).order_by(Customer.id).limit(BATCH)
        if last is not None:
            query = query.where(Customer.id > last)
        ids = [r["id"] for r in await query]
        if not ids:
            return changed
        changed += await refresh_tiers(ids, programme=programme, actor=SYSTEM, audit_each=False)
        last = ids[-1]
