"""A booking's history as staff read it: its audit entries and the messages sent about it, in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from appliance.audit import queries as audit
from appliance.audit.schemas import AuditEntry
from appliance.core.pagination import MAX_LIMIT
from appliance.customers import queries as customers
from appliance.customers.schemas import CommunicationEntry
from appliance.web.i18n import N_

ACTION_LABELS = {
    "booking.created": N_("Booked"), "booking.confirmed": N_("Confirmed"), "booking.approved": N_("Approved"),
    "booking.rejected": N_("Rejected"), "booking.checked_in": N_("Checked in"), "booking.completed": N_("Completed"),
    "booking.no_show": N_("Marked as a no-show"), "booking.cancelled": N_("Cancelled"),
    "booking.rescheduled": N_("Rescheduled"), "booking.reassigned": N_("Resource changed"),
    "booking.payment_status_changed": N_("Payment status changed"), "approval.decided": N_("Approval level decided"),
}
MESSAGE_LABEL = N_("Message sent")


@dataclass(frozen=True)
class Moment:
    """One line of the timeline. `label` is English (translated where shown) unless `verbatim`."""

    at: datetime
    label: str
    who: str  # the actor's label; "" for messages
    detail: str  # statuses, level, channel: ids and codes, never personal data
    verbatim: bool = False


def _from_audit(entry: AuditEntry) -> Moment:
    details = entry.details
    if "from" in details and "to" in details:
        detail = f"{details['from']} → {details['to']}"
    elif "level" in details:
        detail = f"{details.get('level')}: {details.get('decision', '')}"
    else:
        detail = ""
    if entry.reason:
        detail = f"{detail} · {entry.reason}" if detail else entry.reason
    label = ACTION_LABELS.get(entry.action)
    return Moment(entry.occurred_at, label or entry.action, entry.actor_label, detail, verbatim=label is None)


def _from_message(message: CommunicationEntry) -> Moment:
    parts = [message.channel or "", message.template or "", message.status or ""]
    return Moment(message.at, MESSAGE_LABEL, "", " · ".join(p for p in parts if p))


async def booking_timeline(booking_id: UUID) -> list[Moment]:
    entries, _ = await audit.list_entries(
        audit.EntryFilter(target_type="booking", target_id=str(booking_id)), after=None, limit=MAX_LIMIT
    )
    moments = [_from_audit(e) for e in entries] + [_from_message(m) for m in await customers.booking_messages(booking_id)]
    return sorted(moments, key=lambda m: m.at)
