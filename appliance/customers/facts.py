"""Facts derived from a customer's bookings — visits, last visit, lifetime value, no-shows, cancellations,
favourite service and staff, usual weekday and hour — and what follows from them (points earned, the
tier), kept current by an in-transaction listener: they change in the transaction of the booking change
that affects them, so a rule or a screen never sees a completed visit without its count.

Facts are recomputed from the customer's bookings rather than incremented: a customer has tens of
bookings, not thousands, and a recomputation cannot drift however events repeat or interleave."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from appliance.bookings.states import Status
from appliance.bookings.tables import Allocation, Booking
from appliance.core.clock import utc_now
from appliance.customers.actions import lock_customer
from appliance.customers.logic import Visit, derive_facts
from appliance.customers.loyalty import SYSTEM, refresh_tiers
from appliance.customers.points import earn_for_booking, reverse_for_booking
from appliance.customers.queries import get_programme
from appliance.customers.tables import Customer
from appliance.events.envelope import Envelope
from appliance.events.listeners import listen

# Booking events that change a customer's facts, points or tier; others (created, rescheduled …) do not.
AFFECTING = frozenset({"booking.completed", "booking.no_show", "booking.cancelled", "booking.payment_status_changed"})
CHUNK = 500
_COUNTED = [Status.completed.value, Status.no_show.value, Status.cancelled.value]


async def refresh_facts(customer_ids: Sequence[UUID]) -> None:
    """Recompute and store the facts of these customers from their bookings; joins the caller's
    transaction (whose customer locks keep concurrent changes of one customer in order)."""
    for start in range(0, len(customer_ids), CHUNK):
        chunk = list(customer_ids[start:start + CHUNK])
        rows = await Booking.select(
            Booking.id, Booking.customer, Booking.starts_at, Booking.branch.timezone, Booking.status,
            Booking.payment_status, Booking.price_amount, Booking.service,
        ).where(Booking.customer.is_in(chunk) & (Booking.status.is_in(_COUNTED) | (Booking.payment_status == "paid")))
        staff: dict[UUID, list[UUID]] = defaultdict(list)
        for held in await Allocation.select(Allocation.booking, Allocation.resource).where(
            Allocation.booking.customer.is_in(chunk) & (Allocation.booking.status == Status.completed.value)
            & (Allocation.resource.kind == "staff")
        ).order_by(Allocation.id):
            if held["resource"] not in staff[held["booking"]]:
                staff[held["booking"]].append(held["resource"])
        visits: dict[UUID, list[Visit]] = defaultdict(list)
        for row in rows:
            visits[row["customer"]].append(Visit(
                starts_at=row["starts_at"], timezone=row["branch.timezone"], status=row["status"],
                payment_status=row["payment_status"], price_amount=row["price_amount"], service_id=row["service"],
                staff_ids=tuple(staff[row["id"]]),
            ))
        now = utc_now()
        for customer_id in chunk:
            facts = derive_facts(visits[customer_id])
            await Customer.update({
                Customer.visit_count: facts.visit_count, Customer.last_visit_at: facts.last_visit_at,
                Customer.lifetime_value: facts.lifetime_value, Customer.no_show_count: facts.no_show_count,
                Customer.cancellation_count: facts.cancellation_count, Customer.favourite_service: facts.favourite_service,
                Customer.favourite_staff: facts.favourite_staff, Customer.usual_weekday: facts.usual_weekday,
                Customer.usual_hour: facts.usual_hour, Customer.facts_updated_at: now,
            }).where(Customer.id == customer_id)


async def on_booking_change(envelope: Envelope) -> None:
    """In the booking change's transaction: the customer's facts again, the booking's points earned (or
    taken back on a refund), and the tier they lead to."""
    if envelope.subject.type != "booking" or envelope.type not in AFFECTING:
        return
    data = envelope.data
    customer_id, booking_id = UUID(str(data["customer_id"])), UUID(envelope.subject.id)
    await lock_customer(customer_id)
    await refresh_facts([customer_id])
    programme = await get_programme()
    payment_status = data.get("payment_status")
    if envelope.type == "booking.payment_status_changed" and payment_status == "refunded":
        await reverse_for_booking(customer_id, booking_id)
    elif (programme.earn_on == "paid" and envelope.type == "booking.payment_status_changed" and payment_status == "paid") or (
        programme.earn_on == "completed" and envelope.type == "booking.completed" and payment_status != "refunded"
    ):
        await earn_for_booking(customer_id, booking_id, int(data["price"]["amount"]), programme=programme)
    await refresh_tiers([customer_id], programme=programme, actor=SYSTEM)


listen("customers.facts", on_booking_change)
