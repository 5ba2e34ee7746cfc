"""What the calendar and bookings pages share: the branches a person may see bookings of, the names behind
a booking's ids, the labels of statuses and transitions, and local wall-clock times in a branch's zone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings.schemas import Booking
from appliance.bookings.states import TRANSITIONS, Status, Transition
from appliance.catalog import queries as catalog
from appliance.catalog.schemas import Branch, Resource, Service
from appliance.core.clock import utc_now
from appliance.core.errors import AppError, Invalid, NotFound
from appliance.core.pagination import MAX_LIMIT
from appliance.customers import queries as customers
from appliance.customers.reveals import record_listed
from appliance.customers.schemas import CustomerBrief
from appliance.forms.messages import pick
from appliance.forms.queries import FormRef, form_fields
from appliance.forms.schemas import Locale
from appliance.web.admin.shell import field_messages, problem_text
from appliance.web.i18n import N_, Texts

STATUS_LABELS = {
    "pending_approval": N_("Waiting for approval"), "confirmed": N_("Confirmed"), "checked_in": N_("Checked in"),
    "completed": N_("Completed"), "cancelled": N_("Cancelled"), "no_show": N_("No-show"), "rejected": N_("Rejected"),
}
PAYMENT_LABELS = {
    "unpaid": N_("Unpaid"), "awaiting_payment": N_("Awaiting payment"), "paid": N_("Paid"), "refunded": N_("Refunded"),
}
CHANNEL_LABELS = {
    "web": N_("Online"), "admin": N_("Staff"), "wechat": N_("WeChat"), "api": N_("Partner API"), "phone": N_("Phone"),
    "walk_in": N_("Walk-in"),
}
KIND_LABELS = {"staff": N_("Staff"), "room": N_("Room"), "equipment": N_("Equipment")}
TRANSITION_LABELS = {
    "confirm": N_("Confirm"), "approve": N_("Approve"), "reject": N_("Reject"), "check-in": N_("Check in"),
    "complete": N_("Complete"), "no-show": N_("No-show"), "cancel": N_("Cancel booking"),
}
# Refusals of the booking actions said whole in the person's language (the domain's detail is English);
# other errors keep the shell's wording with the detail.
REFUSALS = {
    "slot_unavailable": N_("That time is taken: the staff member, room or equipment is booked or away then."),
    "approval_in_progress": N_("This booking waits for its approval levels: decide it in the approvals queue."),
    "approval_decided": N_("Someone decided this approval already; the queue shows where it stands now."),
    "off_grid": N_("Bookings start on the service's time steps; choose another start."),
    "group_class": N_("A group class keeps its resources for everyone booked in it."),
}
# What a booking form's inputs are told, by field; a start time's problems by the start of the domain's
# (English) detail, since they share the field and its code.
FIELD_TEXTS = {
    "customer.name": N_("Enter the customer's name."),
    "customer.phone": N_("Enter a valid phone number."),
    "service_id": N_("Choose a service."),
    "starts_at": N_("Enter a date and time."),
}
START_TEXTS = {
    "in the past": N_("That time has passed."),
    "too soon": N_("Too soon: this service needs more notice."),
    "too far ahead": N_("Too far ahead for this service."),
    "not on this service": N_("Choose a start on the service's time steps."),
}
# Transitions that ask for a reason (kept with the audit entry and the event).
WITH_REASON = frozenset({"reject", "cancel"})


@dataclass(frozen=True)
class BranchBook:
    """One branch with the names of its services and resources: what pages show in place of ids."""

    branch: Branch
    services: dict[UUID, Service]
    resources: dict[UUID, Resource]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.branch.timezone)

    def resource_names(self, ids: Iterable[UUID]) -> list[str]:
        return [self.resources[r].name for r in ids if r in self.resources]

    def service_name(self, service_id: UUID) -> str:
        service = self.services.get(service_id)
        return service.name if service else ""


async def readable_branches(actor: Actor) -> list[Branch]:
    """The branches whose bookings the person may read, by name."""
    branches, _ = await catalog.list_branches(actor=actor, after=None, limit=MAX_LIMIT)
    return sorted((b for b in branches if actor.can(Permission.bookings_read, b.id)), key=lambda b: (b.name, str(b.id)))


def chosen_branch(branches: list[Branch], branch_id: UUID | None) -> Branch:
    """The branch asked for, else the first one; NotFound when the person may see none of it."""
    if branch_id is not None:
        for branch in branches:
            if branch.id == branch_id:
                return branch
        raise NotFound("no such branch")
    if not branches:
        raise NotFound("no branch whose bookings you may read")
    return branches[0]


async def branch_book(branch: Branch, *, actor: Actor) -> BranchBook:
    """Names need only catalog reading, which every role that reads bookings has (the `system` actor
    would be wrong here: what a page shows follows the person's own scope)."""
    services, _ = await catalog.list_services(actor=actor, branch_id=branch.id, limit=MAX_LIMIT)
    resources, _ = await catalog.list_resources(actor=actor, branch_id=branch.id, limit=MAX_LIMIT)
    return BranchBook(branch, {s.id: s for s in services}, {r.id: r for r in resources})


async def customers_of(bookings: Iterable[Booking], *, actor: Actor) -> dict[UUID, CustomerBrief]:
    """Who the bookings are for, for those who may read customers (others see no names)."""
    if not actor.can(Permission.customers_read):
        return {}
    people = await customers.contacts_of([b.customer_id for b in bookings])
    await record_listed(list(people), actor=actor, fields=("name", "phone"))  # shown, so revealed
    return people


def field_texts(texts: Texts, error: AppError) -> dict[str, str]:
    """An error's per-input messages in the person's language."""
    said = {}
    for name, detail in field_messages(error).items():
        start = next((t for prefix, t in START_TEXTS.items() if detail.startswith(prefix)), None) if name == "starts_at" else None
        known = start or FIELD_TEXTS.get(name)
        said[name] = texts.gettext(known) if known else detail
    return said


def refusal_text(texts: Texts, error: AppError) -> str:
    known = REFUSALS.get(error.code)
    return texts.gettext(known) if known else problem_text(texts, error)


def allowed_transitions(booking: Booking) -> list[Transition]:
    """The state machine's transitions from the booking's status now (no-show only once it has begun)."""
    current = Status(booking.status)
    started = utc_now() >= booking.starts_at
    return [
        t for t in TRANSITIONS.values()
        if current in t.sources and (started or not t.not_before_start)
    ]


async def answer_rows(booking: Booking, locale: Locale) -> list[tuple[str, str]]:
    """The booking's form answers as (question, answer) in the person's language, by the form version
    they were given against; a key that form does not know shows as itself."""
    fields = {f.key: f for f in await form_fields(FormRef(booking.form_id, booking.form_version))} if (
        booking.form_id and booking.form_version) else {}
    rows = []
    for key, value in booking.answers.items():
        field = fields.get(key)
        if field is None:
            rows.append((key, str(value)))
            continue
        options = {o.value: pick(o.label, locale) for o in field.options}
        values = value if isinstance(value, list) else [value]
        rows.append((pick(field.label, locale), "、".join(options.get(str(v), str(v)) for v in values)))
    return rows


def as_uuid(value: str | None) -> UUID | None:
    """An id from a form or query string; anything else (empty, made up) is no id."""
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def local_instant(value: str, zone: ZoneInfo, *, field: str) -> datetime:
    """A wall-clock time typed or dragged in the branch's zone ("2026-12-01T10:00") as an instant; one
    that carries an offset is taken as it is."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid({field: "a date and time such as 2026-12-01T10:00"}) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def local_wall(value: datetime, zone: ZoneInfo) -> str:
    """An instant as the branch's wall clock without an offset, as the calendar and inputs take it."""
    return value.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes")


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def local_day_range(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From the start of `first` to the start of the day after `last`, in the branch's zone."""
    return local_day_start(first, zone), local_day_start(last + timedelta(days=1), zone)
