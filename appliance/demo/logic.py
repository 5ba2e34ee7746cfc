"""The demo business as rows to write, built from `demo.data` around a given day. Pure: no I/O.

Bookings are placed with the real availability engine (`bookings.logic`) against in-memory calendars
that grow as bookings are added, so the demo obeys every rule live bookings do: working hours,
breaks and blocks, time off, buffers, post-use locks, room capacity, multi-resource requirements
and group-class seats. One seeded `Random` drives every choice, so the same day gives the same demo.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from random import Random
from uuid import UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

import msgspec

from appliance.bookings.logic import (
    Hold,
    Held,
    Need,
    ResourceCalendar,
    ServiceRules,
    Slot,
    check_start,
    find_slots,
    holds_for,
    occurrence_holder,
    parse_schedule,
)
from appliance.bookings.states import HOLDING, PaymentStatus, Status
from appliance.catalog.schemas import WEEKDAYS, Channel, Schedule, ScheduleException, WeeklyHours
from appliance.customers.logic import Lot, add_months, counts_towards_value, normalise_phone, points_for, take_from_lots
from appliance.customers.schemas import DEFAULT_PROGRAMME, LoyaltyProgramme
from appliance.demo import data
from appliance.demo.data import BranchSpec, ResourceSpec, ServiceSpec

# Ids of the catalogue are derived from its names, so a reset keeps them (and grants on the branches).
ID_NAMESPACE = UUID("6f1c3b0e-5a0d-4c59-9a57-3d1f0b6a2c11")
ONLINE: frozenset[str] = frozenset({"web", "wechat", "api"})
MINUTE = timedelta(minutes=1)


def catalogue_id(*parts: str) -> UUID:
    return uuid5(ID_NAMESPACE, "/".join(parts))


def branch_id(key: str) -> UUID:
    return catalogue_id("branch", key)


DEMO_BRANCH_IDS: frozenset[UUID] = frozenset(branch_id(b.key) for b in data.BRANCHES)
PROFILE_FORM_ID: UUID = catalogue_id("form", "customers")  # the same after a reset


# --- Rows ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BranchRow:
    id: UUID
    name: str
    timezone: str
    address: str
    opening_hours: WeeklyHours


@dataclass(frozen=True, slots=True)
class ResourceRow:
    id: UUID
    branch_id: UUID
    kind: str
    name: str
    skills: tuple[str, ...]
    capacity: int
    post_use_lock_minutes: int
    schedule: Schedule


@dataclass(frozen=True, slots=True)
class TimeOffRow:
    id: UUID
    resource_id: UUID
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class ServiceRow:
    id: UUID
    branch_id: UUID
    spec: ServiceSpec


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: UUID
    name: str
    phone: str  # E.164
    email: str | None
    source_channel: str
    created_at: datetime
    gender: str | None = None
    birthday: date | None = None
    preferences: dict[str, str] = field(default_factory=dict)
    custom_fields: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    tier_override: str | None = None


@dataclass(frozen=True, slots=True)
class NoteRow:
    id: UUID
    customer_id: UUID
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PointsRow:
    """A ledger line as `customers.points` would have written it."""

    id: UUID
    customer_id: UUID
    kind: str
    points: int
    remaining: int
    expires_at: datetime | None
    balance_after: int
    booking_id: UUID | None
    key: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BookingRow:
    id: UUID
    branch_id: UUID
    service_id: UUID
    customer_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: Status
    channel: str
    price_amount: int
    payment_status: PaymentStatus
    notes: str
    created_at: datetime
    updated_at: datetime
    holder: str
    holds: tuple[Hold, ...]

    @property
    def holding(self) -> bool:
        return self.status in HOLDING


@dataclass(frozen=True)
class DemoPlan:
    today: date
    now: datetime
    first_day: date
    last_day: date
    branches: tuple[BranchRow, ...]
    resources: tuple[ResourceRow, ...]
    time_off: tuple[TimeOffRow, ...]
    services: tuple[ServiceRow, ...]
    customers: tuple[CustomerRow, ...]
    bookings: tuple[BookingRow, ...]
    notes: tuple[NoteRow, ...] = ()
    points: tuple[PointsRow, ...] = ()

    def counts(self) -> dict[str, int]:
        """Rows per table (and resources per kind), as the summary and the audit entry report them."""
        kinds = Counter(r.kind for r in self.resources)
        return {
            "branches": len(self.branches),
            "resources": len(self.resources),
            "staff": kinds["staff"],
            "rooms": kinds["room"],
            "equipment": kinds["equipment"],
            "time_off": len(self.time_off),
            "services": len(self.services),
            "customers": len(self.customers),
            "customer_tags": sum(len(c.tags) for c in self.customers),
            "customer_notes": len(self.notes),
            "points_entries": len(self.points),
            "bookings": len(self.bookings),
            "allocations": sum(len(b.holds) for b in self.bookings),
        }

    def bookings_by_status(self) -> dict[str, int]:
        found = Counter(b.status.value for b in self.bookings)
        return {s.value: found[s.value] for s in Status if found[s.value]}


# --- Time ------------------------------------------------------------------------------------------


def split_instant(today: date, now: datetime, tz: ZoneInfo) -> datetime:
    """What counts as "now" for a demo built around `today`: the real now when it falls on that day,
    else the start (a future day) or end (a past day) of it. Bookings before it are history."""
    day_start = datetime.combine(today, time(), tz).astimezone(UTC)
    return min(max(now.astimezone(UTC), day_start), day_start + timedelta(days=1))


def _local(day: date, clock: str, tz: ZoneInfo) -> datetime:
    hour, minute = (int(p) for p in clock.split(":"))
    return (datetime.combine(day, time(), tz) + timedelta(hours=hour, minutes=minute)).astimezone(UTC)


def _open_on(spec: BranchSpec, day: date) -> bool:
    return bool(spec.opening_hours.get(WEEKDAYS[day.weekday()]))


# --- The catalogue ---------------------------------------------------------------------------------


def _branches() -> tuple[BranchRow, ...]:
    return tuple(
        BranchRow(branch_id(b.key), b.name, data.TIMEZONE, b.address, b.opening_hours) for b in data.BRANCHES
    )


def _resource_id(spec: ResourceSpec) -> UUID:
    return catalogue_id("resource", spec.branch, spec.kind, spec.name)


def _resources(today: date) -> tuple[ResourceRow, ...]:
    branches = {b.key: b for b in data.BRANCHES}
    rows = []
    for spec in data.RESOURCES:
        exceptions = []
        for exception in data.SCHEDULE_EXCEPTIONS:
            if (exception.branch, exception.resource) != (spec.branch, spec.name):
                continue
            day = today + timedelta(days=exception.day)
            while not _open_on(branches[spec.branch], day):  # an exception means something only on an open day
                day += timedelta(days=1)
            exceptions.append(ScheduleException(date=day, intervals=list(exception.intervals)))
        schedule = msgspec.structs.replace(spec.schedule, exceptions=sorted(exceptions, key=lambda e: e.date))
        rows.append(ResourceRow(
            id=_resource_id(spec), branch_id=branch_id(spec.branch), kind=spec.kind, name=spec.name, skills=spec.skills,
            capacity=spec.capacity, post_use_lock_minutes=spec.post_use_lock_minutes, schedule=schedule,
        ))
    return tuple(rows)


def _time_off(today: date, tz: ZoneInfo, new_id: Callable[[], UUID]) -> tuple[TimeOffRow, ...]:
    by_name = {(s.branch, s.name): _resource_id(s) for s in data.RESOURCES}
    return tuple(
        TimeOffRow(
            id=new_id(), resource_id=by_name[(t.branch, t.resource)],
            starts_at=_local(today + timedelta(days=t.first_day), t.start, tz),
            ends_at=_local(today + timedelta(days=t.last_day), t.end, tz), reason=t.reason,
        )
        for t in data.TIME_OFF
    )


def _services() -> tuple[ServiceRow, ...]:
    return tuple(
        ServiceRow(catalogue_id("service", s.branch, s.name), branch_id(s.branch), s) for s in data.SERVICES
    )


def service_rules(row: ServiceRow) -> ServiceRules:
    spec = row.spec
    return ServiceRules(
        id=row.id, duration=spec.duration_minutes * MINUTE, buffer_before=spec.buffer_before_minutes * MINUTE,
        buffer_after=spec.buffer_after_minutes * MINUTE, seats=spec.seats,
        needs=tuple(Need(kind=r.kind, skills=frozenset(r.skills), count=r.count) for r in spec.requirements),
        step=spec.slot_step_minutes * MINUTE, min_notice=spec.min_notice_minutes * MINUTE,
        max_advance=timedelta(days=spec.max_advance_days),
    )


# --- Customers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    id: UUID
    name: str
    phone: str
    email: str | None
    source_channel: str
    joined: datetime  # when they became a customer, unless their first booking is earlier


def _people(rng: Random, now: datetime, new_id: Callable[[], UUID]) -> list[_Person]:
    surnames = [s for s, _ in data.SURNAMES]
    surname_weights = list(accumulate(w for _, w in data.SURNAMES))
    channels = [c for c, _ in data.SOURCE_CHANNELS]
    channel_weights = list(accumulate(w for _, w in data.SOURCE_CHANNELS))
    phones: set[str] = set()
    people: list[_Person] = []
    while len(people) < data.CUSTOMERS:
        surname = rng.choices(surnames, cum_weights=surname_weights)[0]
        given = "".join(rng.choice(data.GIVEN_NAME_CHARACTERS) for _ in range(rng.choice((1, 2, 2, 2))))
        phone = normalise_phone(rng.choice(data.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}")
        if phone is None or phone in phones:
            continue
        phones.add(phone)
        email = None
        if rng.random() < data.EMAIL_SHARE:
            local = (
                f"{rng.choice(data.EMAIL_NAMES)}{rng.randrange(100, 9999)}" if rng.random() < 0.6
                else str(rng.randrange(10**7, 10**10))  # QQ-number style
            )
            email = f"{local}@{rng.choice(data.EMAIL_DOMAINS)}"
        joined = now - timedelta(days=rng.uniform(60, 720))
        people.append(_Person(
            id=new_id(), name=surname + given, phone=phone, email=email,
            source_channel=rng.choices(channels, cum_weights=channel_weights)[0], joined=joined,
        ))
    return people


@dataclass
class _Pool:
    """Customers who mostly visit one branch, regulars weighted up."""

    people: list[_Person]
    cum_weights: list[float]

    def draw(self, rng: Random) -> _Person:
        return rng.choices(self.people, cum_weights=self.cum_weights)[0]


def _pools(rng: Random, people: list[_Person]) -> dict[str, _Pool]:
    keys = list(data.HOME_BRANCH_SHARE)
    key_weights = list(accumulate(data.HOME_BRANCH_SHARE.values()))
    members: dict[str, list[tuple[_Person, float]]] = defaultdict(list)
    for person in people:
        home = rng.choices(keys, cum_weights=key_weights)[0]
        members[home].append((person, min(rng.paretovariate(1.3), 8.0)))
    return {
        key: _Pool([p for p, _ in found], list(accumulate(w for _, w in found))) for key, found in members.items()
    }


# --- Bookings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    """What bookings are placed against."""

    resources: tuple[ResourceRow, ...]
    time_off: tuple[TimeOffRow, ...]
    services: tuple[ServiceRow, ...]


@dataclass
class _Day:
    """One branch's calendars while a day is being booked."""

    day_start: datetime
    opens: datetime  # the branch's first opening and last closing time that day: no slot lies outside
    closes: datetime
    held: dict[UUID, list[Held]]
    busy_customers: dict[UUID, list[tuple[datetime, datetime]]]


class _BranchBooker:
    def __init__(
        self, spec: BranchSpec, catalogue: _Catalogue, rng: Random, tz: ZoneInfo, now: datetime,
        pools: dict[str, _Pool], new_id: Callable[[], UUID],
    ) -> None:
        self.spec, self.rng, self.tz, self.now, self.pools, self.new_id = spec, rng, tz, now, pools, new_id
        self.branch_id = branch_id(spec.key)
        off: dict[UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
        for t in catalogue.time_off:
            off[t.resource_id].append((t.starts_at, t.ends_at))
        self.calendars = {
            r.id: ResourceCalendar(
                id=r.id, kind=r.kind, skills=frozenset(r.skills), capacity=r.capacity,
                post_use_lock=r.post_use_lock_minutes * MINUTE, hours=parse_schedule(msgspec.to_builtins(r.schedule)),
                time_off=tuple(sorted(off[r.id])), name=r.name,
            )
            for r in catalogue.resources if r.branch_id == self.branch_id
        }
        self.services = [s for s in catalogue.services if s.branch_id == self.branch_id]
        self.rules = {s.id: service_rules(s) for s in self.services}
        # Only the resources that could fill a need take part: fewer calendars, same answers.
        self.relevant = {
            s.id: [
                c.id for c in self.calendars.values()
                if any(c.kind == n.kind and n.skills <= c.skills for n in self.rules[s.id].needs)
            ]
            for s in self.services
        }
        # Appointments (not classes), drawn by popularity.
        self.appointments = [s for s in self.services if not s.spec.class_times and s.spec.popularity > 0]
        self.appointment_weights = list(accumulate(s.spec.popularity for s in self.appointments))
        self.bookings: list[BookingRow] = []

    def book(self, days: Sequence[date]) -> list[BookingRow]:
        for day in days:
            if not _open_on(self.spec, day):
                continue
            weekend = day.weekday() >= 5
            low, high = self.spec.bookings_per_weekend_day if weekend else self.spec.bookings_per_weekday
            target = self.rng.randint(low, high)
            hours = self.spec.opening_hours[WEEKDAYS[day.weekday()]]
            state = _Day(
                datetime.combine(day, time(), self.tz).astimezone(UTC), _local(day, min(a for a, _ in hours), self.tz),
                _local(day, max(b for _, b in hours), self.tz), defaultdict(list), defaultdict(list),
            )
            placed = self._classes(day, state)
            hour_weights = data.WEEKEND_HOUR_WEIGHTS if weekend else data.WEEKDAY_HOUR_WEIGHTS
            full: set[UUID] = set()  # services with no slot left today: adding bookings never frees one
            while placed < target and len(full) < len(self.appointments):
                service = self.rng.choices(self.appointments, cum_weights=self.appointment_weights)[0]
                if service.id in full:
                    continue
                if self._one(service, state, hour_weights):
                    placed += 1
                else:
                    full.add(service.id)
        return self.bookings

    def _calendars(self, service: ServiceRow, state: _Day) -> list[ResourceCalendar]:
        return [
            replace(self.calendars[r], held=tuple(state.held[r])) if state.held.get(r) else self.calendars[r]
            for r in self.relevant[service.id]
        ]

    def _one(self, service: ServiceRow, state: _Day, hour_weights: dict[int, float]) -> bool:
        """Book one appointment of `service` somewhere in the day, if any slot is left."""
        rules = self.rules[service.id]
        calendars = self._calendars(service, state)
        start, end, now = state.opens, state.closes, state.day_start - rules.min_notice
        slots: list[Slot] = []
        if service.spec.customer_picks_staff and self.rng.random() < 0.4:
            # A regular asks for their favourite: the customer picks the staff member.
            favourite = self.rng.choice([c.id for c in calendars if c.kind == "staff"])
            slots = find_slots(
                rules, calendars, tz=self.tz, window_start=start, window_end=end, now=now, required=frozenset({favourite})
            )
        if not slots:
            slots = find_slots(rules, calendars, tz=self.tz, window_start=start, window_end=end, now=now)
        if not slots:
            return False
        weights = [hour_weights.get(s.starts_at.astimezone(self.tz).hour, 0.3) for s in slots]
        slot = self.rng.choices(slots, weights=weights)[0]
        booking_id = self.new_id()
        holder = str(booking_id)
        holds = holds_for(rules, slot, calendars)
        for h in holds:
            state.held[h.resource_id].append(Held.between(h.starts_at, h.ends_at, h.unit, holder))
        self._record(booking_id, service, slot, holder, tuple(holds), state)
        return True

    def _classes(self, day: date, state: _Day) -> int:
        """Group classes at their fixed times, each attended by several customers sharing its holds."""
        placed = 0
        for service in self.services:
            spec = service.spec
            times = spec.class_times.get(WEEKDAYS[day.weekday()], ())
            for clock in times:
                rules = self.rules[service.id]
                calendars = self._calendars(service, state)
                starts_at = _local(day, clock, self.tz)
                slot = check_start(rules, calendars, starts_at, tz=self.tz, now=state.day_start - rules.min_notice)
                attendance = self.rng.randint(*spec.class_attendance)
                if slot is None:
                    continue
                holder = occurrence_holder(service.id, slot.starts_at)
                holds = tuple(holds_for(rules, slot, calendars))
                for h in holds:
                    state.held[h.resource_id].append(Held.between(h.starts_at, h.ends_at, h.unit, holder))
                # Every seat joins the same occurrence, as the engine's join would: same holder, same holds.
                for _ in range(min(attendance, spec.seats)):
                    self._record(self.new_id(), service, slot, holder, holds, state)
                    placed += 1
        return placed

    def _customer(self, slot: Slot, state: _Day) -> _Person:
        """Mostly a customer of this branch; never one already booked at an overlapping time that day."""
        home = self.pools.get(self.spec.key)
        others = [p for k, p in sorted(self.pools.items()) if k != self.spec.key]
        for _ in range(4):
            from_home = self.rng.random() < 0.9
            pool = home if home is not None and (from_home or not others) else others[0]
            person = pool.draw(self.rng)
            busy = state.busy_customers[person.id]
            if not any(start < slot.ends_at and slot.starts_at < end for start, end in busy):
                break
        busy.append((slot.starts_at, slot.ends_at))
        return person

    def _record(
        self, booking_id: UUID, service: ServiceRow, slot: Slot, holder: str, holds: tuple[Hold, ...], state: _Day,
    ) -> None:
        rng, spec, now = self.rng, service.spec, self.now
        person = self._customer(slot, state)
        allowed = [(c, w) for c, w in data.BOOKING_CHANNELS if not spec.channels or c in spec.channels]
        channel: Channel = rng.choices([c for c, _ in allowed], weights=[w for _, w in allowed])[0]
        fate, payment_draw = rng.random(), rng.random()
        lead = (
            timedelta(minutes=rng.uniform(5, 30)) if channel == "walk_in"
            else timedelta(days=min(rng.expovariate(1 / 3), 20), minutes=rng.uniform(10, 600))
        )
        note = rng.choice(data.BOOKING_NOTES) if rng.random() < data.NOTE_SHARE else ""
        past = slot.starts_at < now
        if channel == "walk_in" and not past:
            channel = "phone"  # nobody has walked in for a future booking yet
        lead = max(lead, spec.min_notice_minutes * MINUTE)
        created_at = min(slot.starts_at - lead, now - 5 * MINUTE)
        status = _status(fate, past=past, approval=spec.requires_approval)
        if status is Status.completed and slot.ends_at > now:
            status = Status.checked_in  # under way right now
        updated_at = {
            Status.completed: slot.ends_at,
            Status.checked_in: slot.starts_at,
            Status.no_show: slot.starts_at + 30 * MINUTE,
            Status.cancelled: created_at + (min(slot.starts_at, now) - created_at) * fate,
            Status.rejected: created_at + 3 * timedelta(hours=1),
        }.get(status, created_at)
        self.bookings.append(BookingRow(
            id=booking_id, branch_id=self.branch_id, service_id=service.id, customer_id=person.id,
            starts_at=slot.starts_at, ends_at=slot.ends_at, status=status, channel=channel,
            price_amount=spec.price_fen, payment_status=_payment(status, channel, payment_draw), notes=note,
            created_at=created_at, updated_at=min(updated_at, now), holder=holder, holds=holds,
        ))


def _status(fate: float, *, past: bool, approval: bool) -> Status:
    """Realistic shares: most past bookings were kept, a few cancelled or missed; approvals pend ahead."""
    if past:
        if approval and fate < 0.05:
            return Status.rejected
        if fate < 0.10:
            return Status.cancelled
        if fate < 0.15:
            return Status.no_show
        return Status.completed
    if approval:
        return Status.pending_approval if fate < 0.5 else Status.cancelled if fate < 0.56 else Status.confirmed
    return Status.cancelled if fate < 0.04 else Status.confirmed


def _payment(status: Status, channel: str, draw: float) -> PaymentStatus:
    online = channel in ONLINE
    if status in (Status.completed, Status.checked_in):
        return PaymentStatus.paid
    if status is Status.cancelled:
        return PaymentStatus.refunded if online and draw < 0.5 else PaymentStatus.unpaid
    if status is Status.no_show:
        return PaymentStatus.paid if online and draw < 0.4 else PaymentStatus.unpaid  # a forfeited prepayment
    if status is Status.confirmed:
        return PaymentStatus.paid if online and draw < 0.6 else PaymentStatus.unpaid
    if status is Status.pending_approval:
        return PaymentStatus.awaiting_payment if draw < 0.3 else PaymentStatus.unpaid
    return PaymentStatus.unpaid


# --- The plan --------------------------------------------------------------------------------------


def build_plan(
    today: date, now: datetime, *, new_id: Callable[[], UUID] = uuid4, programme: LoyaltyProgramme = DEFAULT_PROGRAMME
) -> DemoPlan:
    """The demo around local date `today`; `now` splits history (completed, cancelled, no-show) from
    what is ahead (confirmed, pending approval). `new_id` makes the ids of rows other than the catalogue;
    `programme` says what the bookings earned in points."""
    tz = ZoneInfo(data.TIMEZONE)
    now = split_instant(today, now, tz)
    rng = Random(data.SEED)
    catalogue = _Catalogue(_resources(today), _time_off(today, tz, new_id), _services())
    people = _people(rng, now, new_id)
    pools = _pools(rng, people)
    first_day, last_day = today - timedelta(days=data.PAST_DAYS), today + timedelta(days=data.FUTURE_DAYS)
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    bookings: list[BookingRow] = []
    for spec in data.BRANCHES:
        bookings += _BranchBooker(spec, catalogue, rng, tz, now, pools, new_id).book(days)
    bookings.sort(key=lambda b: (b.starts_at, str(b.id)))
    first_seen: dict[UUID, datetime] = {}
    for booking in bookings:
        first_seen[booking.customer_id] = min(booking.created_at, first_seen.get(booking.customer_id, booking.created_at))
    customers = tuple(
        CustomerRow(
            id=p.id, name=p.name, phone=p.phone, email=p.email, source_channel=p.source_channel,
            created_at=min(p.joined, first_seen.get(p.id, p.joined) - timedelta(hours=1)),
        )
        for p in people
    )
    crm = Random(data.CRM_SEED)
    customers = _profiles(crm, customers, bookings)
    return DemoPlan(
        today=today, now=now, first_day=first_day, last_day=last_day, branches=_branches(),
        resources=catalogue.resources, time_off=catalogue.time_off, services=catalogue.services, customers=customers,
        bookings=tuple(bookings), notes=_notes(crm, customers, now, new_id),
        points=_ledger(crm, customers, bookings, programme, now, new_id),
    )


# --- The CRM ---------------------------------------------------------------------------------------


def _profiles(rng: Random, customers: Sequence[CustomerRow], bookings: Sequence[BookingRow]) -> tuple[CustomerRow, ...]:
    """Gender, birthday, preferences, a custom field, tags (regulars tagged 常客) and a few VIP overrides."""
    visits = Counter(b.customer_id for b in bookings if b.status is Status.completed)
    genders = [g for g, _ in data.GENDERS]
    gender_weights = [w for _, w in data.GENDERS]
    vips = set(rng.sample([c.id for c in customers], data.VIP_OVERRIDES))
    profiled = []
    for customer in customers:
        birthday = None
        if rng.random() < data.BIRTHDAY_SHARE:
            birthday = date(1965, 1, 1) + timedelta(days=rng.randrange(40 * 365))
        tags = [tag for tag, share in data.CUSTOMER_TAGS if rng.random() < share]
        if visits[customer.id] >= data.REGULAR_VISITS:
            tags.insert(0, data.REGULAR_TAG)
        preferences = (
            {key: rng.choice(values) for key, values in data.PREFERENCES.items()} if rng.random() < data.PREFERENCE_SHARE else {}
        )
        profiled.append(replace(
            customer, gender=rng.choices(genders, weights=gender_weights)[0], birthday=birthday, preferences=preferences,
            custom_fields={"skin_type": rng.choice(data.SKIN_TYPES)[0]} if preferences else {}, tags=tuple(tags),
            tier_override="vip" if customer.id in vips else None,
        ))
    return tuple(profiled)


def _notes(rng: Random, customers: Sequence[CustomerRow], now: datetime, new_id: Callable[[], UUID]) -> tuple[NoteRow, ...]:
    return tuple(
        NoteRow(new_id(), c.id, rng.choice(data.CUSTOMER_NOTES), c.created_at + (now - c.created_at) * rng.random())
        for c in customers if rng.random() < data.CUSTOMER_NOTE_SHARE
    )


def _earns(booking: BookingRow, earn_on: str) -> bool:
    if earn_on == "paid":
        return booking.payment_status is PaymentStatus.paid
    return booking.status is Status.completed and counts_towards_value(booking.status.value, booking.payment_status.value)


def _ledger(
    rng: Random, customers: Sequence[CustomerRow], bookings: Sequence[BookingRow], programme: LoyaltyProgramme,
    now: datetime, new_id: Callable[[], UUID],
) -> tuple[PointsRow, ...]:
    """The points the bookings earned under `programme` (at payment, or completion), and a redemption by
    some of the customers with enough: the ledger `customers.points` would have written. Customers are
    taken in their own order and bookings by time (ids are random), so the same day gives the same draws."""
    earning: dict[UUID, list[BookingRow]] = defaultdict(list)
    for booking in sorted(bookings, key=lambda b: (b.updated_at, b.starts_at, b.service_id.int)):
        if _earns(booking, programme.earn_on) and points_for(booking.price_amount, programme.points_per_unit) > 0:
            earning[booking.customer_id].append(booking)
    rows: list[PointsRow] = []
    for customer_id in (c.id for c in customers if c.id in earning):
        lots: list[PointsRow] = []
        balance = 0
        for booking in earning[customer_id]:
            points = points_for(booking.price_amount, programme.points_per_unit)
            balance += points
            expires = add_months(booking.updated_at, programme.expiry_months) if programme.expiry_months else None
            lots.append(PointsRow(
                new_id(), customer_id, "earn", points, points, expires, balance, booking.id, f"earn:{booking.id}",
                booking.updated_at,
            ))
        spent: list[PointsRow] = []
        last = lots[-1].created_at
        at = last + (now - last) * rng.uniform(0.1, 0.9)  # after the last earning, before now
        live = [Lot(lot.id, lot.remaining, lot.expires_at, lot.created_at) for lot in lots if not lot.expires_at or lot.expires_at > at]
        spendable = sum(lot.remaining for lot in live)
        affordable = [amount for amount in data.REDEEM_AMOUNTS if amount <= spendable]
        if affordable and rng.random() < data.REDEEM_SHARE:
            taken = dict(take_from_lots(live, rng.choice(affordable)))
            redeemed = sum(taken.values())
            lots = [replace(lot, remaining=lot.remaining - taken.get(lot.id, 0)) for lot in lots]
            spent.append(PointsRow(new_id(), customer_id, "redeem", -redeemed, 0, None, spendable - redeemed, None, None, at))
        rows += lots + spent
    return tuple(rows)


def local_today(now: datetime) -> date:
    """Today in the demo business's time zone."""
    return now.astimezone(ZoneInfo(data.TIMEZONE)).date()

