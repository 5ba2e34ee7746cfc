"""Customer reads: lookups, the list, the 360 view, notes, the points ledger and balances, the loyalty
programme, and the customer facts rules see.

Exact-match lookups by phone, last four digits, email or full name go through `find_customer_ids` and
nowhere else (but `match_phone`, a booking's, the same comparison in one statement): they compare blind
indexes (field encryption, `customers.sealing`), never plaintext, which the database does not hold. A
part of a name cannot be searched for.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from piccolo.columns import Varchar
from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable
from piccolo.query.functions.aggregate import Sum

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings.tables import Booking
from appliance.notifications.tables import Message
from appliance.catalog.schemas import Money
from appliance.catalog.tables import Resource, Service
from appliance.core.clock import utc_now
from appliance.core.db import json_value, run_sql, uuid_value
from appliance.core.errors import NotFound
from appliance.core.pagination import split_page
from appliance.customers import schemas
from appliance.customers.logic import CONSENT_PURPOSES, SegmentFilter, Tier, segment_where, normalise_email, normalise_phone, normalise_tag
from appliance.customers.sealing import (
    lookup_indexes, opened_customer, opened_interaction, opened_merge_profile, opened_note, opened_phone,
)
from appliance.customers.tables import (
    Customer, CustomerConsent, CustomerInteraction, CustomerMerge, CustomerNote, CustomerPhone, CustomerTag, LoyaltyProgramme,
    PointsEntry, Segment,
)

NO_ID = UUID(int=0)  # matches nothing: stands in for an empty list in `is_in`
PROGRAMME_ID = "default"
RECENT_BOOKINGS = 10
RECENT_NOTES = 20


# --- Lookups -----------------------------------------------------------------------------------------


async def find_customer_ids(
    *, phone: str | None = None, phone_last4: str | None = None, email: str | None = None, name: str | None = None,
    limit: int = 200,
) -> list[UUID]:
    """Customers matching every exact value given: a phone (any spelling; compared as E.164), the last
    four digits of the phone, an email (compared lower-cased), a full name (compared with spaces and case
    folded). Each is compared through its blind index; a phone and its last four digits match the main
    phone or a further one (`CustomerPhone`, indexed as the main one is). Invalid values match nobody."""
    query = Customer.select(Customer.id).order_by(Customer.id).limit(limit)
    if phone is not None:
        query = query.where(_has_phone(CustomerPhone.phone_bidx, lookup_indexes("phone", normalise_phone(phone))))
    if phone_last4 is not None:
        wanted = phone_last4 if len(phone_last4) == 4 and phone_last4.isdigit() else None
        query = query.where(_has_phone(CustomerPhone.phone_last4_bidx, lookup_indexes("last4", wanted)))
    if email is not None:
        query = query.where(Customer.email_bidx.is_in(lookup_indexes("email", normalise_email(email)) or ["-"]))
    if name is not None:
        query = query.where(Customer.name_bidx.is_in(lookup_indexes("name", name) or ["-"]))
    return [row["id"] for row in await query]


def _has_phone(extra_column: Varchar, indexes: list[str]) -> Combinable:
    """Customers whose main phone or a further one has one of these blind indexes (in `extra_column`,
    CustomerPhone's phone_bidx or phone_last4_bidx, and the Customer column of the same name)."""
    wanted = indexes or ["-"]
    main: Varchar = getattr(Customer, extra_column._meta.name)
    extra = CustomerPhone.select(CustomerPhone.customer).where(extra_column.is_in(wanted))
    return main.is_in(wanted) | Customer.id.is_in(extra)


async def find_customers_by_contacts(
    phones: Sequence[str], emails: Sequence[str]
) -> tuple[dict[str, UUID], dict[str, UUID]]:
    """The batched form of `find_customer_ids` for imports: the customer of each normalised phone (E.164,
    main or further) and of each normalised email found (an email several customers share: the first by
    id that was not merged away), in one query per kind, through the blind indexes. A contact of a
    customer merged into another finds the survivor (`survivors_of`), as the list does. Like
    `find_customer_ids`, the one place that knows how contacts are stored."""
    by_phone: dict[str, UUID] = {}
    by_email: dict[str, UUID] = {}
    if phones:
        phone_of = {index: p for p in phones for index in lookup_indexes("phone", p)}
        for row in await Customer.select(Customer.id, Customer.phone_bidx).where(Customer.phone_bidx.is_in(list(phone_of))):
            by_phone[phone_of[row["phone_bidx"]]] = row["id"]
        extra = await CustomerPhone.select(CustomerPhone.customer, CustomerPhone.phone_bidx).where(
            CustomerPhone.phone_bidx.is_in(list(phone_of))
        )
        for row in extra:  # a phone is one customer's, main or further: no row overrides another
            by_phone.setdefault(phone_of[row["phone_bidx"]], row["customer"])
    if emails:
        email_of = {index: e for e in emails for index in lookup_indexes("email", e)}
        rows = await Customer.select(Customer.id, Customer.email_bidx, Customer.merged_into).where(
            Customer.email_bidx.is_in(list(email_of))
        )
        for row in sorted(rows, key=lambda r: (r["merged_into"] is not None, r["id"])):
            by_email.setdefault(email_of[row["email_bidx"]], row["id"])
    survivors = await survivors_of([*by_phone.values(), *by_email.values()])
    return {p: survivors[c] for p, c in by_phone.items()}, {e: survivors[c] for e, c in by_email.items()}


async def extra_phones_of(customer_id: UUID) -> list[str]:
    """The customer's further phones (E.164), in number order."""
    rows = await CustomerPhone.select(CustomerPhone.id, CustomerPhone.phone).where(CustomerPhone.customer == customer_id)
    return sorted(opened_phone(r) for r in rows)


async def contacts_of(customer_ids: Sequence[UUID]) -> dict[UUID, schemas.CustomerBrief]:
    """Name and phone of each customer, in one query (for lists of bookings)."""
    if not customer_ids:
        return {}
    rows = await Customer.select(Customer.id, Customer.name, Customer.phone).where(Customer.id.is_in(list(set(customer_ids))))
    opened = [opened_customer(r) for r in rows]
    return {r["id"]: schemas.CustomerBrief(id=r["id"], name=r["name"], phone=r["phone"]) for r in opened}


# `find_customer_ids` by phone (main phones and further ones, the first by id) then `survivors_of`, and the
# programme's tiers a new customer starts from, in one statement: every booking runs it. A merge chain longer than any merge history could make stops the
# walk (merges refuse merged customers: no cycle).
_BOOKING_CUSTOMER_SQL = """
WITH RECURSIVE chain (id, merged_into, depth) AS (
    SELECT id, merged_into, 0 FROM customer
     WHERE id = (SELECT id FROM (SELECT id FROM customer WHERE phone_bidx IN ({indexes})
                                 UNION ALL SELECT customer FROM customer_phone WHERE phone_bidx IN ({indexes})) AS found
                  ORDER BY id LIMIT 1)
    UNION ALL
    SELECT c.id, c.merged_into, chain.depth + 1 FROM customer c JOIN chain ON c.id = chain.merged_into
     WHERE chain.depth < 64
)
SELECT (SELECT id FROM chain ORDER BY depth DESC LIMIT 1) AS id,
       (SELECT tiers FROM loyalty_programme WHERE id = {}) AS tiers
"""


@dataclass(frozen=True)
class PhoneMatch:
    customer_id: UUID | None  # the customer with the phone, or the one it was merged into; None: nobody
    tiers: list[Tier]  # the programme's, lowest first (`get_programme`): what a new customer's tier is judged by


async def match_phone(phone_e164: str) -> PhoneMatch:
    """Who a booking with this phone is for: the customer with it (the first by id), or the one it was
    merged into, followed through later merges (a merged duplicate's phone books for the customer it
    joined); and, should nobody have it, the tiers to judge a new customer's by."""
    indexes = lookup_indexes("phone", normalise_phone(phone_e164)) or ["-"]
    sql = _BOOKING_CUSTOMER_SQL.replace("{indexes}", ", ".join(["{}"] * len(indexes)))
    [row] = await run_sql(sql, *indexes, *indexes, PROGRAMME_ID)
    tiers = schemas.DEFAULT_PROGRAMME.tiers if row["tiers"] is None else msgspec.convert(json_value(row["tiers"]), list[Tier])
    return PhoneMatch(None if row["id"] is None else uuid_value(row["id"]), list(tiers))


# --- The list ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerFilter:
    phone: str | None = None
    phone_last4: str | None = None
    email: str | None = None
    q: str | None = None  # the full name, exactly (names are sealed: no part of one can be searched for)
    tag: str | None = None
    tier: str | None = None
    segment: SegmentFilter | None = None

    @property
    def exact(self) -> bool:
        return any(v is not None for v in (self.phone, self.phone_last4, self.email, self.name))

    @property
    def name(self) -> str | None:
        return self.q.strip() or None if self.q else None


async def list_customers(
    filters: CustomerFilter, *, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[schemas.CustomerSummary], tuple[datetime, UUID] | None]:
    """Newest first, a page ordered by (created_at, id) descending, and the key to continue after."""
    query = Customer.select(
        Customer.id, Customer.name, Customer.phone, Customer.email, Customer.tier, Customer.visit_count,
        Customer.last_visit_at, Customer.lifetime_value, Customer.created_at,
    ).where(Customer.merged_into.is_null()).order_by(Customer.created_at, Customer.id, ascending=False).limit(limit + 1)
    if filters.segment is not None:
        query = query.where(segment_condition(filters.segment))
    if filters.exact:
        found = await find_customer_ids(
            phone=filters.phone, phone_last4=filters.phone_last4, email=filters.email, name=filters.name
        )
        found = list((await survivors_of(found)).values())  # a merged duplicate's phone finds the customer it joined
        query = query.where(Customer.id.is_in(found or [NO_ID]))
    if filters.tag is not None:
        tagged = CustomerTag.select(CustomerTag.customer).where(CustomerTag.tag == (normalise_tag(filters.tag) or ""))
        query = query.where(Customer.id.is_in(tagged))
    if filters.tier is not None:
        query = query.where(Customer.tier == filters.tier)
    if after is not None:
        at, last_id = after
        query = query.where((Customer.created_at < at) | ((Customer.created_at == at) & (Customer.id < last_id)))
    rows, last = split_page(await query, limit)
    rows = [opened_customer(r) for r in rows]
    ids = [r["id"] for r in rows]
    tags, balances = await tags_of(ids), await balances_of(ids)
    items = [
        schemas.CustomerSummary(
            id=r["id"], name=r["name"], phone=r["phone"], email=r["email"], tier=r["tier"], tags=tags[r["id"]],
            visit_count=r["visit_count"], last_visit_at=r["last_visit_at"], lifetime_value=r["lifetime_value"],
            points=balances[r["id"]], created_at=r["created_at"],
        )
        for r in rows
    ]
    return items, (last["created_at"], last["id"]) if last else None


async def names_of(customer_ids: Sequence[UUID]) -> dict[UUID, str]:
    """Each customer's name, for lists that show many bookings at once (the caller checks customers.read)."""
    if not customer_ids:
        return {}
    rows = await Customer.select(Customer.id, Customer.name).where(Customer.id.is_in(list(set(customer_ids))))
    return {row["id"]: opened_customer(row)["name"] for row in rows}


async def tags_of(customer_ids: Sequence[UUID]) -> dict[UUID, list[str]]:
    found: dict[UUID, list[str]] = {c: [] for c in customer_ids}
    if customer_ids:
        rows = await CustomerTag.select(CustomerTag.customer, CustomerTag.tag).where(
            CustomerTag.customer.is_in(list(customer_ids))
        ).order_by(CustomerTag.tag)
        for row in rows:
            found[row["customer"]].append(row["tag"])
    return found


# --- Points ----------------------------------------------------------------------------------------------


def _spendable(now: datetime) -> Any:
    return (PointsEntry.remaining > 0) & (PointsEntry.expires_at.is_null() | (PointsEntry.expires_at > now))


async def balances_of(customer_ids: Sequence[UUID], now: datetime | None = None) -> dict[UUID, int]:
    """Points each customer can spend now: what remains of their credits that have not expired."""
    found = dict.fromkeys(customer_ids, 0)
    if customer_ids:
        rows = await PointsEntry.select(PointsEntry.customer, Sum(PointsEntry.remaining).as_alias("balance")).where(
            PointsEntry.customer.is_in(list(customer_ids)) & _spendable(now or utc_now())
        ).group_by(PointsEntry.customer)
        for row in rows:
            found[row["customer"]] = int(row["balance"] or 0)
    return found


async def points_balance(customer_id: UUID, now: datetime | None = None) -> int:
    return (await balances_of([customer_id], now))[customer_id]


async def points_earned_of(customer_ids: Sequence[UUID]) -> dict[UUID, int]:
    """Every credit ever (earned, awarded, added by staff) less reversals of earned points: what points
    tiers count, whatever was spent or expired since."""
    found = dict.fromkeys(customer_ids, 0)
    if customer_ids:
        rows = await PointsEntry.select(PointsEntry.customer, Sum(PointsEntry.points).as_alias("total")).where(
            PointsEntry.customer.is_in(list(customer_ids)) & ((PointsEntry.points > 0) | (PointsEntry.kind == "reverse"))
        ).group_by(PointsEntry.customer)
        for row in rows:
            found[row["customer"]] = int(row["total"] or 0)
    return found


async def points_earned(customer_id: UUID) -> int:
    return (await points_earned_of([customer_id]))[customer_id]


async def _points(customer_id: UUID) -> schemas.Points:
    now = utc_now()
    soonest = await PointsEntry.select(PointsEntry.remaining, PointsEntry.expires_at).where(
        (PointsEntry.customer == customer_id) & _spendable(now) & PointsEntry.expires_at.is_not_null()
    ).order_by(PointsEntry.expires_at).first()
    if soonest is not None:
        # Every lot expiring at that same instant (a day's earnings) leaves together.
        same = await PointsEntry.select(Sum(PointsEntry.remaining).as_alias("points")).where(
            (PointsEntry.customer == customer_id) & _spendable(now) & (PointsEntry.expires_at == soonest["expires_at"])
        ).first()
        expiring = schemas.Expiring(points=int((same or {}).get("points") or 0), expires_at=soonest["expires_at"])
    return schemas.Points(
        balance=await points_balance(customer_id, now), earned=await points_earned(customer_id),
        next_expiry=expiring if soonest is not None else None,
    )


def entry_schema(row: dict[str, Any]) -> schemas.PointsEntry:
    return schemas.PointsEntry(
        id=row["id"], kind=row["kind"], points=row["points"], balance_after=row["balance_after"],
        remaining=row["remaining"], expires_at=row["expires_at"], booking_id=row["booking"], reason=row["reason"],
        actor_label=row["actor_label"], created_at=row["created_at"],
    )


async def list_points(
    customer_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[schemas.PointsEntry], tuple[datetime, UUID] | None]:
    """The ledger, newest first."""
    rows, last = await _newest_first(PointsEntry, customer_id, after=after, limit=limit)
    return [entry_schema(r) for r in rows], last


async def _newest_first(
    table: type[PointsEntry] | type[CustomerNote], customer_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[dict[str, Any]], tuple[datetime, UUID] | None]:
    """A page of one customer's rows ordered by (created_at, id) descending, and the key to continue after."""
    await require_customer(customer_id)
    query = table.select().where(table.customer == customer_id).order_by(table.created_at, table.id, ascending=False).limit(
        limit + 1
    )
    if after is not None:
        at, last_id = after
        query = query.where((table.created_at < at) | ((table.created_at == at) & (table.id < last_id)))
    rows, last = split_page(await query, limit)
    return rows, (last["created_at"], last["id"]) if last else None


# --- Notes -----------------------------------------------------------------------------------------------


def note_schema(row: dict[str, Any]) -> schemas.Note:
    """A note as stored (its body sealed)."""
    row = opened_note(row)
    return schemas.Note(
        id=row["id"], body=row["body"], author_kind=row["author_kind"], author_id=row["author_id"],
        author_label=row["author_label"], created_at=row["created_at"],
    )


async def list_notes(
    customer_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[schemas.Note], tuple[datetime, UUID] | None]:
    """Newest first."""
    rows, last = await _newest_first(CustomerNote, customer_id, after=after, limit=limit)
    return [note_schema(r) for r in rows], last


# --- Segments ----------------------------------------------------------------------------------------------


def segment_condition(found: SegmentFilter, now: datetime | None = None) -> WhereRaw:
    """A saved filter as a where clause on Customer, its values bound as parameters."""
    sql, values = segment_where(found, now or utc_now())
    return WhereRaw(sql, *values)


def segment_schema(row: dict[str, Any]) -> schemas.Segment:
    return schemas.Segment(
        id=row["id"], key=row["key"], name=row["name"], filter=msgspec.convert(json_value(row["filter"]), SegmentFilter),
        revision=row["revision"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def get_segment(segment_id: UUID) -> schemas.Segment:
    row = await Segment.select().where(Segment.id == segment_id).first()
    if row is None:
        raise NotFound("no such segment")
    return segment_schema(row)


async def list_segments() -> list[schemas.Segment]:
    return [segment_schema(r) for r in await Segment.select().order_by(Segment.key)]


async def count_segment(found: SegmentFilter) -> int:
    return int(await Customer.count().where(segment_condition(found)))


async def segments_of(customer_id: UUID) -> list[str]:
    """The keys of the segments the customer is in now, sorted."""
    now = utc_now()
    return [
        segment.key for segment in await list_segments()
        if await Customer.exists().where((Customer.id == customer_id) & segment_condition(segment.filter, now))
    ]


# --- Merges --------------------------------------------------------------------------------------------------


def _merge_schema(row: dict[str, Any]) -> schemas.CustomerMerge:
    return schemas.CustomerMerge(
        id=row["id"], survivor_id=row["survivor"], duplicate_id=row["duplicate"],
        moved=msgspec.convert(json_value(row["moved"]), schemas.MergeMoved),
        profile=msgspec.convert(opened_merge_profile(row), schemas.MergeProfile), merged_by=row["merged_by"],
        merged_at=row["merged_at"], undone_at=row["undone_at"],
    )


async def get_merge(merge_id: UUID) -> schemas.CustomerMerge:
    row = await CustomerMerge.select().where(CustomerMerge.id == merge_id).first()
    if row is None:
        raise NotFound("no such merge")
    return _merge_schema(row)


async def list_merges(customer_id: UUID, *, actor: Actor, limit: int = 20) -> list[schemas.CustomerMerge]:
    """The merges this customer took part in (as survivor or duplicate), newest first, as `actor` may see
    them (`merges_in_reach`)."""
    rows = await CustomerMerge.select().where(
        (CustomerMerge.survivor == customer_id) | (CustomerMerge.duplicate == customer_id)
    ).order_by(CustomerMerge.merged_at, ascending=False).limit(limit)
    return await merges_in_reach([_merge_schema(r) for r in rows], actor)


async def merge_in_reach(merge: schemas.CustomerMerge, actor: Actor) -> schemas.CustomerMerge:
    [shown] = await merges_in_reach([merge], actor)
    return shown


async def merges_in_reach(merges: list[schemas.CustomerMerge], actor: Actor) -> list[schemas.CustomerMerge]:
    """The merges with the bookings and messages they moved cut to those of branches `actor` may read
    bookings of (messages about no booking stay): the customer is shared, their bookings elsewhere are not.
    One query per kind of row, whatever the number of merges."""
    bookings_in_reach, messages_in_reach = _bookings_in_reach(actor), _messages_in_reach(actor)
    if bookings_in_reach is None or messages_in_reach is None:
        return merges
    bookings = await _ids_among(Booking, [b for m in merges for b in m.moved.bookings], bookings_in_reach)
    messages = await _ids_among(Message, [i for m in merges for i in m.moved.messages], messages_in_reach)
    return [
        msgspec.structs.replace(merge, moved=msgspec.structs.replace(
            merge.moved, bookings=[b for b in merge.moved.bookings if b in bookings],
            messages=[i for i in merge.moved.messages if i in messages],
        ))
        for merge in merges
    ]


async def _ids_among(table: type[Booking] | type[Message], ids: list[UUID], condition: Combinable) -> set[UUID]:
    """Those of `ids` whose rows meet `condition`."""
    if not ids:
        return set()
    return {r["id"] for r in await table.select(table.id).where(table.id.is_in(ids) & condition)}


async def survivors_of(customer_ids: Collection[UUID]) -> dict[UUID, UUID]:
    """Each customer itself, or the one it was merged into (followed through later merges): one query per
    link of the longest chain of merges."""
    found = {c: c for c in customer_ids}
    pending, seen = set(found), set(found)
    while pending:
        rows = await Customer.select(Customer.id, Customer.merged_into).where(
            Customer.id.is_in(list(pending)) & Customer.merged_into.is_not_null()
        )
        step: dict[UUID, UUID] = {r["id"]: r["merged_into"] for r in rows}
        for customer_id, current in found.items():
            found[customer_id] = step.get(current, current)
        pending = set(step.values()) - seen  # merges refuse merged customers, so no cycle; never loop anyway
        seen |= pending
    return found


async def records_of(customer_id: UUID) -> list[UUID]:
    """The customer and every customer merged into it (through earlier merges too): one person's records,
    the reverse of `survivors_of`."""
    found, frontier = [customer_id], [customer_id]
    while frontier:
        rows = await Customer.select(Customer.id).where(Customer.merged_into.is_in(frontier))
        frontier = [r["id"] for r in rows if r["id"] not in found]
        found += frontier
    return found


# --- The communication log ------------------------------------------------------------------------------


def interaction_entry(row: dict[str, Any]) -> schemas.CommunicationEntry:
    """A logged interaction as stored (its note sealed)."""
    row = opened_interaction(row)
    return schemas.CommunicationEntry(
        id=row["id"], source="staff", kind=row["kind"], at=row["at"], note=row["note"], channel=None, template=None,
        status=None, booking_id=None, author_label=row["author_label"],
    )


def _message_entry(row: dict[str, Any]) -> schemas.CommunicationEntry:
    return schemas.CommunicationEntry(
        id=row["id"], source="notification", kind="message", at=row["created_at"], note="", channel=row["channel"],
        template=row["template"], status=row["status"], booking_id=row["booking"], author_label=None,
    )


async def check_customer_in_reach(customer_id: UUID, *, actor: Actor, permission: Permission) -> None:
    """A customer is within a branch-bound actor's reach when they booked in one of its branches: what
    their opt-outs and consent may be changed by (docs/notifications.md)."""
    if not await Customer.exists().where(Customer.id == customer_id):
        raise NotFound("no such customer")
    scope = actor.branch_scope(permission)
    if scope is None:
        return
    if not scope or not await Booking.exists().where((Booking.customer == customer_id) & Booking.branch.is_in(list(scope))):
        raise NotFound("no such customer")


def _bookings_in_reach(actor: Actor) -> Combinable | None:
    """Bookings of branches `actor` may read bookings of; None for every booking."""
    scope = actor.branch_scope(Permission.bookings_read)
    return None if scope is None else Booking.branch.is_in(list(scope) or [NO_ID])


def _messages_in_reach(actor: Actor) -> WhereRaw | None:
    """Messages about bookings of branches `actor` may read bookings of, and those about no booking; None
    for every message. The customer is shared, their bookings elsewhere are not (`_recent_bookings`)."""
    scope = actor.branch_scope(Permission.bookings_read)
    if scope is None:
        return None
    if not scope:
        return WhereRaw("booking IS NULL")
    places = ", ".join("{}" for _ in scope)
    return WhereRaw(f"(booking IS NULL OR booking IN (SELECT id FROM booking WHERE branch IN ({places})))", *scope)


async def list_communications(
    customer_id: UUID, *, actor: Actor, after: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[schemas.CommunicationEntry], tuple[datetime, UUID] | None]:
    """Messages sent to the customer and the calls, visits and messages staff logged, newest first by
    (time, id): each source read in that order up to one more than a page, then merged. Messages about
    bookings of branches out of the actor's reach are left out."""
    await require_customer(customer_id)
    logged = CustomerInteraction.select().where(CustomerInteraction.customer == customer_id).order_by(
        CustomerInteraction.at, CustomerInteraction.id, ascending=False
    ).limit(limit + 1)
    sent = Message.select(
        Message.id, Message.created_at, Message.channel, Message.template, Message.status, Message.booking
    ).where((Message.customer == customer_id) & (Message.recipient == "customer")).order_by(
        Message.created_at, Message.id, ascending=False
    ).limit(limit + 1)
    if (in_reach := _messages_in_reach(actor)) is not None:
        sent = sent.where(in_reach)
    if after is not None:
        at, last_id = after
        logged = logged.where(
            (CustomerInteraction.at < at) | ((CustomerInteraction.at == at) & (CustomerInteraction.id < last_id))
        )
        sent = sent.where((Message.created_at < at) | ((Message.created_at == at) & (Message.id < last_id)))
    entries = sorted(
        [interaction_entry(r) for r in await logged] + [_message_entry(r) for r in await sent],
        key=lambda e: (e.at, e.id), reverse=True,
    )
    page = entries[:limit]
    return page, (page[-1].at, page[-1].id) if len(entries) > limit else None


async def booking_messages(booking_id: UUID) -> list[schemas.CommunicationEntry]:
    """The messages sent about one booking (to its customer or to staff), oldest first."""
    rows = await Message.select(
        Message.id, Message.created_at, Message.channel, Message.template, Message.status, Message.booking
    ).where(Message.booking == booking_id).order_by(Message.created_at).order_by(Message.id)
    return [_message_entry(r) for r in rows]


# --- Consent ---------------------------------------------------------------------------------------------


async def consent_of(customer_id: UUID) -> list[schemas.ConsentChoice]:
    """Every purpose, with the choice recorded (or none)."""
    rows = {
        r["purpose"]: r for r in await CustomerConsent.select().where(CustomerConsent.customer == customer_id)
    }
    return [
        schemas.ConsentChoice(purpose=p, granted=bool(r["granted"]), changed_at=r["changed_at"], source=r["source"])
        if (r := rows.get(p)) else schemas.ConsentChoice(purpose=p, granted=None, changed_at=None, source=None)
        for p in CONSENT_PURPOSES
    ]


async def refused(customer_id: UUID, purpose: str) -> bool:
    """Whether the customer refused this purpose (a message channel: opted out). No choice: not refused."""
    return bool(await CustomerConsent.exists().where(
        (CustomerConsent.customer == customer_id) & (CustomerConsent.purpose == purpose) & (CustomerConsent.granted == False)  # noqa: E712
    ))


async def refused_purposes(customer_id: UUID) -> list[str]:
    rows = await CustomerConsent.select(CustomerConsent.purpose).where(
        (CustomerConsent.customer == customer_id) & (CustomerConsent.granted == False)  # noqa: E712
    ).order_by(CustomerConsent.purpose)
    return [r["purpose"] for r in rows]


# --- The loyalty programme -----------------------------------------------------------------------------


async def get_programme() -> schemas.LoyaltyProgramme:
    """The programme as configured, or the built-in defaults (1 point per unit once paid, 12 months, the
    normal/silver/gold/vip ladder) until someone configures it."""
    row = await LoyaltyProgramme.select().where(LoyaltyProgramme.id == PROGRAMME_ID).first()
    if row is None:
        return schemas.DEFAULT_PROGRAMME
    return schemas.LoyaltyProgramme(
        points_per_unit=row["points_per_unit"], earn_on=row["earn_on"], expiry_months=row["expiry_months"],
        tiers=msgspec.convert(json_value(row["tiers"]), list[Tier]), revision=row["revision"], updated_at=row["updated_at"],
    )


# --- The 360 view ----------------------------------------------------------------------------------------


async def require_customer(customer_id: UUID) -> None:
    if not await Customer.exists().where(Customer.id == customer_id):
        raise NotFound("no such customer")


async def get_customer(customer_id: UUID, *, actor: Actor) -> schemas.Customer:
    row = await Customer.select().where(Customer.id == customer_id).first()
    if row is None:
        raise NotFound("no such customer")
    row = opened_customer(row)
    programme = await get_programme()
    tier = next((t for t in programme.tiers if t.key == row["tier"]), None)
    notes = await CustomerNote.select().where(CustomerNote.customer == customer_id).order_by(
        CustomerNote.created_at, CustomerNote.id, ascending=False
    ).limit(RECENT_NOTES)
    return schemas.Customer(
        id=row["id"], name=row["name"], phone=row["phone"], extra_phones=await extra_phones_of(customer_id),
        email=row["email"], gender=row["gender"], birthday=row["birthday"], source_channel=row["source_channel"], tags=(await tags_of([customer_id]))[customer_id],
        preferences=row["preferences"] or {}, custom_fields=row["custom_fields"] or {},
        custom_fields_form_id=row["custom_fields_form"], custom_fields_form_version=row["custom_fields_form_version"],
        consent=await consent_of(customer_id), membership=schemas.Membership(
            tier=row["tier"], tier_name=tier.name if tier else None, benefits=list(tier.benefits) if tier else [],
            earned_tier=row["earned_tier"], tier_override=row["tier_override"],
        ),
        facts=schemas.Facts(
            visit_count=row["visit_count"], last_visit_at=row["last_visit_at"], lifetime_value=row["lifetime_value"],
            no_show_count=row["no_show_count"], cancellation_count=row["cancellation_count"],
            favourite_service=await _named(Service, row["favourite_service"], actor),
            favourite_staff=await _named(Resource, row["favourite_staff"], actor),
            usual_weekday=row["usual_weekday"], usual_hour=row["usual_hour"], updated_at=row["facts_updated_at"],
        ),
        points=await _points(customer_id), recent_bookings=await _recent_bookings(customer_id, actor),
        notes=[note_schema(n) for n in notes],
        communications=(await list_communications(customer_id, actor=actor, after=None, limit=RECENT_NOTES))[0],
        segments=await segments_of(customer_id), merged_into=row["merged_into"], erased_at=row["erased_at"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def _named(table: type[Service] | type[Resource], item_id: UUID | None, actor: Actor) -> schemas.Named | None:
    """A favourite by name, if it is of a branch whose bookings the actor may read (else it tells them where
    else the customer goes)."""
    if item_id is None:
        return None
    row = await table.select(table.name, table.branch).where(table.id == item_id).first()
    scope = actor.branch_scope(Permission.bookings_read)
    if row is None or (scope is not None and row["branch"] not in scope):
        return None
    return schemas.Named(id=item_id, name=row["name"])


async def _recent_bookings(customer_id: UUID, actor: Actor) -> list[schemas.BookingBrief]:
    query = Booking.select(
        Booking.id, Booking.status, Booking.starts_at, Booking.branch, Booking.service, Booking.service.name,
        Booking.price_amount, Booking.price_currency, Booking.payment_status,
    ).where(Booking.customer == customer_id).order_by(Booking.starts_at, ascending=False).limit(RECENT_BOOKINGS)
    if (in_reach := _bookings_in_reach(actor)) is not None:
        query = query.where(in_reach)
    return [
        schemas.BookingBrief(
            id=r["id"], status=r["status"], starts_at=r["starts_at"], branch_id=r["branch"], service_id=r["service"],
            service_name=r["service.name"], price=Money(amount=r["price_amount"], currency=r["price_currency"]),
            payment_status=r["payment_status"],
        )
        for r in await query
    ]


# --- What rules see ----------------------------------------------------------------------------------------


async def custom_fields_of(customer_id: UUID) -> dict[str, Any]:
    """The customer's custom profile fields, opened ({} for none or no such customer)."""
    return (await custom_fields_by_customer([customer_id])).get(customer_id, {})


async def custom_fields_by_customer(customer_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    """The custom profile fields of each of these customers, opened; one query."""
    rows = await Customer.select(Customer.id, Customer.custom_fields).where(Customer.id.is_in(list(customer_ids) or [NO_ID]))
    return {row["id"]: opened_customer(row)["custom_fields"] for row in rows}


async def rule_facts(customer_id: UUID, *, booking_completed: bool) -> dict[str, Any]:
    """The customer.* condition fields (automation.conditions.FIELDS) for a booking of this customer.
    `is_new`: no completed visit other than this booking."""
    row = await Customer.select(Customer.tier, Customer.visit_count).where(Customer.id == customer_id).first()
    if row is None:
        return {
            "customer.tier": None, "customer.benefits": [], "customer.tags": [], "customer.points": 0,
            "customer.visit_count": 0, "customer.is_new": True, "customer.segments": [],
        }
    visits = row["visit_count"]
    tier = next((t for t in (await get_programme()).tiers if t.key == row["tier"]), None)
    return {
        "customer.tier": row["tier"],
        "customer.benefits": list(tier.benefits) if tier else [],
        "customer.tags": (await tags_of([customer_id]))[customer_id],
        "customer.points": await points_balance(customer_id),
        "customer.visit_count": visits,
        "customer.is_new": visits - (1 if booking_completed else 0) <= 0,
        "customer.segments": await segments_of(customer_id),
    }

