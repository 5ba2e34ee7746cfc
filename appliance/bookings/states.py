"""The booking state machine (design.md §4): which transition may leave which status. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    pending_approval = "pending_approval"
    confirmed = "confirmed"
    checked_in = "checked_in"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"
    rejected = "rejected"


class PaymentStatus(StrEnum):
    unpaid = "unpaid"
    awaiting_payment = "awaiting_payment"
    paid = "paid"
    refunded = "refunded"


# Statuses whose allocations keep holding resources. Completed bookings keep theirs as history.
HOLDING = frozenset({Status.pending_approval, Status.confirmed, Status.checked_in, Status.completed})
OPEN = frozenset({Status.pending_approval, Status.confirmed, Status.checked_in})
RESCHEDULABLE = frozenset({Status.pending_approval, Status.confirmed})


@dataclass(frozen=True)
class Transition:
    name: str  # the endpoint: POST /api/v1/bookings/{id}/{name}
    event: str  # audit action and event type
    sources: frozenset[Status]
    target: Status
    not_before_start: bool = False  # e.g. nobody is a no-show before the booking begins


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("confirm", "booking.confirmed", frozenset({Status.pending_approval}), Status.confirmed),
        Transition("approve", "booking.approved", frozenset({Status.pending_approval}), Status.confirmed),
        Transition("reject", "booking.rejected", frozenset({Status.pending_approval}), Status.rejected),
        Transition("check-in", "booking.checked_in", frozenset({Status.confirmed}), Status.checked_in),
        Transition("complete", "booking.completed", frozenset({Status.confirmed, Status.checked_in}), Status.completed),
        # design.md §4: any open state → no_show, checked_in included (a check-in made in error, or a
        # customer who left before being served, is recorded as a no-show after all).
        Transition("no-show", "booking.no_show", OPEN, Status.no_show, not_before_start=True),
        Transition("cancel", "booking.cancelled", OPEN, Status.cancelled),
    )
}


def transition_problem(transition: Transition, current: Status, *, started: bool) -> str | None:
    """Why `transition` may not leave `current` now, or None."""
    if current not in transition.sources:
        allowed = ", ".join(sorted(s.value for s in transition.sources))
        return f"a {current.value} booking cannot {transition.name} (only from {allowed})"
    if transition.not_before_start and not started:
        return f"cannot {transition.name} before the booking starts"
    return None
