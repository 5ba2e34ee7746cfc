"""The points ledger: the only code that writes it. Bookings earn points by the programme's rate once paid
(or completed, as configured) and lose them again when refunded; staff redeem them and, with
loyalty.manage, adjust them with a reason; rules award them. A credit is a lot that expires after the
programme's months; a debit spends the lots that expire first and can never take the balance below zero.

Expiry is exact without a job: the balance counts only lots not yet expired. The housekeeping job
`expire_points` writes the `expire` lines afterwards, so the ledger tells the customer where points went.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings.idempotency import IdempotencyKey, find_replay, remember_response
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Forbidden, Invalid, NotFound
from appliance.customers import schemas
from appliance.customers.actions import lock_customer, subject
from appliance.customers.logic import Lot, add_months, points_for, take_from_lots
from appliance.customers.loyalty import SYSTEM, refresh_tiers
from appliance.customers.queries import entry_schema, get_programme, points_balance
from appliance.customers.tables import Customer, PointsEntry

EVENTS = {
    "earn": "customer.points_earned", "bonus": "customer.points_awarded", "adjust": "customer.points_adjusted",
    "redeem": "customer.points_redeemed", "reverse": "customer.points_reversed", "expire": "customer.points_expired",
}
EXPIRY_BATCH = 500


class InsufficientPoints(Invalid):
    code = "insufficient_points"


async def post_points(
    customer_id: UUID, points: int, *, kind: str, actor: Actor, reason: str = "", booking_id: UUID | None = None,
    key: str | None = None, partial: bool = False, programme: schemas.LoyaltyProgramme | None = None,
) -> schemas.PointsEntry | None:
    """Write one ledger line, joining the caller's transaction. A credit (points > 0) is a lot expiring by
    the programme; a debit takes from the lots that expire first and is refused (422 insufficient_points)
    beyond the balance — or, `partial`, takes what there is (a refund's reversal). A line already written
    under `key` makes this a no-op, as does a partial debit of an empty balance: both return None."""
    async with write_transaction():
        await lock_customer(customer_id)
        if key is not None and await PointsEntry.exists().where(PointsEntry.key == key):
            return None
        if not await Customer.exists().where(Customer.id == customer_id):
            raise NotFound("no such customer")
        now = utc_now()
        programme = programme or await get_programme()
        balance = await points_balance(customer_id, now)
        expires_at: datetime | None = None
        if points > 0:
            expires_at = add_months(now, programme.expiry_months) if programme.expiry_months else None
        else:
            points = -await _spend(customer_id, -points, balance, now, partial=partial)
            if points == 0:
                return None
        entry = PointsEntry(
            id=uuid4(), customer=customer_id, kind=kind, points=points, remaining=max(points, 0), expires_at=expires_at,
            balance_after=balance + points, booking=booking_id, reason=reason.strip(), key=key,
            actor_label=actor.label[:150], created_at=now,
        )
        await PointsEntry.insert(entry)
        await _record(customer_id, entry, actor)
        if points > 0 or kind == "reverse":  # what points tiers count moved
            await refresh_tiers([customer_id], programme=programme, actor=actor)
    return entry_schema(entry.to_dict())


async def _spend(customer_id: UUID, points: int, balance: int, now: datetime, *, partial: bool) -> int:
    """Take `points` from the customer's lots, the soonest to expire first; returns how many were taken."""
    if points > balance and not partial:
        raise InsufficientPoints(
            {"points": f"the customer has {balance} points"}, detail=f"not enough points: the balance is {balance}"
        )
    rows = await PointsEntry.select(PointsEntry.id, PointsEntry.remaining, PointsEntry.expires_at, PointsEntry.created_at).where(
        (PointsEntry.customer == customer_id) & (PointsEntry.remaining > 0)
        & (PointsEntry.expires_at.is_null() | (PointsEntry.expires_at > now))
    )
    taken = take_from_lots([Lot(r["id"], r["remaining"], r["expires_at"], r["created_at"]) for r in rows], points)
    for lot_id, take in taken:
        await PointsEntry.update({PointsEntry.remaining: PointsEntry.remaining - take}).where(PointsEntry.id == lot_id)
    return sum(take for _, take in taken)


async def _record(customer_id: UUID, entry: PointsEntry, actor: Actor) -> None:
    await record_change(
        EVENTS[entry.kind], subject(customer_id),
        {"customer_id": str(customer_id), "entry_id": str(entry.id), "kind": entry.kind, "points": entry.points},
        actor=actor, changed_fields=["points"], details={"entry_id": str(entry.id), "kind": entry.kind},
    )


# --- Staff ---------------------------------------------------------------------------------------------


async def redeem_points(
    customer_id: UUID, data: schemas.PointsRedeem, *, actor: Actor, idempotency: IdempotencyKey | None = None
) -> schemas.PointsEntry:
    """Spend points (front desk: customers.write); never below zero. An Idempotency-Key replays."""
    if not actor.can(Permission.customers_write):
        raise Forbidden("this needs the permission customers.write")
    return await _by_staff(customer_id, -data.points, "redeem", data.reason, actor, idempotency)


async def adjust_points(
    customer_id: UUID, data: schemas.PointsAdjust, *, actor: Actor, idempotency: IdempotencyKey | None = None
) -> schemas.PointsEntry:
    """Add or take away points with a reason (loyalty.manage); never below zero."""
    if not actor.can(Permission.loyalty_manage):
        raise Forbidden("this needs the permission loyalty.manage")
    if data.points == 0:
        raise Invalid({"points": "must not be 0"})
    if not data.reason.strip():
        raise Invalid({"reason": "say why"})
    return await _by_staff(customer_id, data.points, "adjust", data.reason, actor, idempotency)


async def _by_staff(
    customer_id: UUID, points: int, kind: str, reason: str, actor: Actor, idempotency: IdempotencyKey | None
) -> schemas.PointsEntry:
    if idempotency and (replay := await find_replay(idempotency)):
        return msgspec.convert(replay, schemas.PointsEntry)
    async with write_transaction():
        entry = await post_points(customer_id, points, kind=kind, actor=actor, reason=reason)
        assert entry is not None  # a staff line has no key and a full debit is taken or refused
        if idempotency:
            await remember_response(idempotency, 201, entry)
    return entry


# --- Bookings --------------------------------------------------------------------------------------------


async def earn_for_booking(
    customer_id: UUID, booking_id: UUID, amount: int, *, programme: schemas.LoyaltyProgramme
) -> None:
    """A booking's points, once however often it is paid or completed."""
    points = points_for(amount, programme.points_per_unit)
    if points > 0:
        await post_points(
            customer_id, points, kind="earn", actor=SYSTEM, booking_id=booking_id, key=f"earn:{booking_id}",
            programme=programme,
        )


async def reverse_for_booking(customer_id: UUID, booking_id: UUID) -> None:
    """A refunded booking's points taken back, as far as the balance still holds them; once."""
    earned = await PointsEntry.select(PointsEntry.points).where(PointsEntry.key == f"earn:{booking_id}").first()
    if earned is not None:
        await post_points(
            customer_id, -earned["points"], kind="reverse", actor=SYSTEM, booking_id=booking_id,
            key=f"reverse:{booking_id}", partial=True,
        )


# --- Housekeeping ----------------------------------------------------------------------------------------


async def expire_points(now: datetime) -> int:
    """Write an `expire` line per customer for their lots that expired (they left the balance already);
    run by the sweeper's housekeeping. Returns how many lines it wrote."""
    due = await PointsEntry.select(PointsEntry.customer).where(
        (PointsEntry.remaining > 0) & (PointsEntry.expires_at <= now)
    ).distinct().limit(EXPIRY_BATCH)
    written = 0
    for row in due:
        async with write_transaction():
            await lock_customer(row["customer"])
            written += await _expire(row["customer"], now)
    return written


async def _expire(customer_id: UUID, now: datetime) -> int:
    lots = await PointsEntry.select(PointsEntry.id, PointsEntry.remaining).where(
        (PointsEntry.customer == customer_id) & (PointsEntry.remaining > 0) & (PointsEntry.expires_at <= now)
    )
    total = sum(lot["remaining"] for lot in lots)
    if not total:
        return 0
    await PointsEntry.update({PointsEntry.remaining: 0}).where(PointsEntry.id.is_in([lot["id"] for lot in lots]))
    entry = PointsEntry(
        id=uuid4(), customer=customer_id, kind="expire", points=-total, remaining=0, expires_at=None,
        balance_after=await points_balance(customer_id, now), booking=None, reason="", key=None,
        actor_label=SYSTEM.label, created_at=utc_now(),
    )
    await PointsEntry.insert(entry)
    await _record(customer_id, entry, SYSTEM)
    return 1
