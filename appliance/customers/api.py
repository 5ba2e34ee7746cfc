"""JSON API for customers: search, the 360 view and profile edits, tags, notes, the booking history, the
points ledger (redeem, adjust), and the loyalty programme."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, patch, post, put
from litestar.response import Stream
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from appliance.audit.trail import record_reveal
from appliance.auth.actor import Actor
from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.bookings import queries as bookings
from appliance.bookings import schemas as booking_schemas
from appliance.bookings.idempotency import idempotency_key
from appliance.core.errors import Invalid
from appliance.core.pagination import DEFAULT_LIMIT, Page, check_limit, decode_instant_cursor, encode_instant_cursor
from appliance.customers import actions, loyalty, merge, points, queries, schemas, segments
from appliance.customers.actions import subject
from appliance.customers.reveals import record_listed, record_viewed
from appliance.forms.messages import locale_from, pick
from appliance.forms.queries import profile_fields
from appliance.forms.schemas import Locale
from appliance.reports.files import CSV_TYPE, safe_cell

IdempotencyHeader = Annotated[str | None, HeaderParameter(name="Idempotency-Key")]
CUSTOMER = "/{customer_id:uuid}"


def _scope(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}" if actor.id else f"ip:{actor.ip or 'unknown'}"


class CustomerController(Controller):
    path = "/api/v1/customers"
    tags = ["customers"]

    @get("/", opt=requires(Permission.customers_read))
    async def list_customers(
        self, request: AnyRequest, phone: FromQuery[str | None] = None, phone_last4: FromQuery[str | None] = None,
        email: FromQuery[str | None] = None, q: FromQuery[str | None] = None, tag: FromQuery[str | None] = None,
        tier: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[schemas.CustomerSummary]:
        """Newest first. `phone` (any spelling), `phone_last4` and `email` match exactly; `q` is the full
        name, matched exactly (case and spaces aside: names are encrypted, so no part of one can be searched
        for); `tag` and `tier` match exactly. Filters combine. Audited (customers.listed: which customers)."""
        if phone_last4 is not None and not (len(phone_last4) == 4 and phone_last4.isdigit()):
            raise Invalid({"phone_last4": "four digits"})
        filters = queries.CustomerFilter(phone=phone, phone_last4=phone_last4, email=email, q=q, tag=tag, tier=tier)
        items, last = await queries.list_customers(filters, after=decode_instant_cursor(cursor), limit=check_limit(limit))
        await record_listed([c.id for c in items], actor=actor_of(request))
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @get(CUSTOMER, opt=requires(Permission.customers_read))
    async def get_customer(self, request: AnyRequest, customer_id: FromPath[UUID]) -> schemas.Customer:
        """The 360 view: profile, membership, facts from their bookings, points, recent bookings, notes.
        Audited (customer.viewed)."""
        actor = actor_of(request)
        found = await queries.get_customer(customer_id, actor=actor)
        await record_viewed(customer_id, actor=actor)
        return found

    @patch(CUSTOMER, opt=requires(Permission.customers_write))
    async def update_customer(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.CustomerUpdate]
    ) -> schemas.Customer:
        """Change profile fields; `tier_override` (loyalty.manage) sets the tier in force, null returns to
        the earned one. `extra_phones` replace the further phones (at most 5; 422 naming `extra_phones[i]`).
        A phone another customer has, as main or further phone, is 409 phone_taken. `custom_fields` replace
        the stored ones and must answer the customers' profile form: 422 naming `custom_fields.<key>` otherwise."""
        actor = actor_of(request)
        await actions.update_customer(
            customer_id, data, actor=actor, locale=locale_from(request.headers.get("accept-language"))
        )
        return await queries.get_customer(customer_id, actor=actor)

    @post(f"{CUSTOMER}/erase", opt=requires(Permission.customers_erase), status_code=HTTP_200_OK)
    async def erase_customer(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.CustomerErase]
    ) -> schemas.CustomerErased:
        """Erase the person's data (a PIPL erasure request; owners and compliance officers): the record
        stays, anonymous, with their bookings and points for the accounts. `reason` (the request's
        reference) is audited. While a booking is open: 409 erasure_refused, audited too."""
        erased_at = await actions.erase_customer(customer_id, data.reason, actor=actor_of(request))
        return schemas.CustomerErased(id=customer_id, erased_at=erased_at)

    @post(f"{CUSTOMER}/tags", opt=requires(Permission.customers_write), status_code=HTTP_200_OK)
    async def add_tags(self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.TagsAdd]) -> schemas.Tags:
        """Add tags (normalised: trimmed, case-folded, full-width folded); those already there are kept."""
        return schemas.Tags(tags=await actions.add_tags(customer_id, data.tags, actor=actor_of(request)))

    @delete(f"{CUSTOMER}/tags/{{tag:str}}", opt=requires(Permission.customers_write), status_code=HTTP_204_NO_CONTENT)
    async def remove_tag(self, request: AnyRequest, customer_id: FromPath[UUID], tag: FromPath[str]) -> None:
        """Take a tag off (done already: still 204)."""
        await actions.remove_tag(customer_id, tag, actor=actor_of(request))

    @get(f"{CUSTOMER}/notes", opt=requires(Permission.customers_read))
    async def list_notes(
        self, request: AnyRequest, customer_id: FromPath[UUID], cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT
    ) -> Page[schemas.Note]:
        """Newest first. Audited (customer.notes_viewed)."""
        items, last = await queries.list_notes(customer_id, after=decode_instant_cursor(cursor), limit=check_limit(limit))
        if items:
            await record_reveal(
                "customer.notes_viewed", actor=actor_of(request), target=subject(customer_id), fields=["notes"],
                details={"count": len(items)},
            )
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @post(f"{CUSTOMER}/notes", opt=requires(Permission.customers_write), status_code=HTTP_201_CREATED)
    async def add_note(self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.NoteCreate]) -> schemas.Note:
        """A staff note, with its author and time."""
        return await actions.add_note(customer_id, data, actor=actor_of(request))

    @get(f"{CUSTOMER}/communications", opt=requires(Permission.customers_read))
    async def list_communications(
        self, request: AnyRequest, customer_id: FromPath[UUID], cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT
    ) -> Page[schemas.CommunicationEntry]:
        """The communication log, newest first: messages sent to the customer, and calls, visits and messages
        staff logged. Audited (customer.communications_viewed)."""
        items, last = await queries.list_communications(
            customer_id, actor=actor_of(request), after=decode_instant_cursor(cursor), limit=check_limit(limit)
        )
        if items:
            await record_reveal(
                "customer.communications_viewed", actor=actor_of(request), target=subject(customer_id),
                fields=["interactions"], details={"count": len(items)},
            )
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @post(f"{CUSTOMER}/interactions", opt=requires(Permission.customers_write), status_code=HTTP_201_CREATED)
    async def log_interaction(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.InteractionCreate]
    ) -> schemas.CommunicationEntry:
        """Log a call, visit or message (`kind`), with a note and when it happened (`at`, default now)."""
        return await actions.log_interaction(customer_id, data, actor=actor_of(request))

    @post(f"{CUSTOMER}/merge", opt=requires(Permission.customers_write), status_code=HTTP_201_CREATED)
    async def merge_customer(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.MergeRequest]
    ) -> schemas.CustomerMerge:
        """Merge `duplicate_id` into this customer: bookings, points, notes, logged interactions and messages
        move here, tags are combined, consent too (a refusal wins), facts and tier recomputed; the duplicate
        is kept as merged. Returns the merge record (undo with POST /api/v1/customer-merges/{id}/undo).
        Into itself: 422; either customer merged already: 409 customer_merged."""
        actor = actor_of(request)
        return await queries.merge_in_reach(await merge.merge_customers(customer_id, data.duplicate_id, actor=actor), actor)

    @get(f"{CUSTOMER}/consent", opt=requires(Permission.customers_read))
    async def get_consent(self, customer_id: FromPath[UUID]) -> list[schemas.ConsentChoice]:
        """Every purpose (marketing, data_processing, each message channel) with the choice recorded, when and
        how; `granted` null: no choice recorded."""
        await queries.require_customer(customer_id)
        return await queries.consent_of(customer_id)

    @patch(f"{CUSTOMER}/consent", opt=requires(Permission.customers_write))
    async def change_consent(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.ConsentChange]
    ) -> list[schemas.ConsentChoice]:
        """Record the customer's choices given (audited); refusing a channel is opting out of its messages."""
        await actions.set_consent(customer_id, {str(k): v for k, v in data.consent.items()}, source=data.source, actor=actor_of(request))
        return await queries.consent_of(customer_id)

    @get(f"{CUSTOMER}/bookings", opt=requires(Permission.bookings_read))
    async def list_bookings(
        self, request: AnyRequest, customer_id: FromPath[UUID], cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[booking_schemas.Booking]:
        """The customer's whole booking history, oldest first, in the branches the caller may read."""
        await queries.require_customer(customer_id)
        items, last = await bookings.list_bookings(
            bookings.BookingFilter(customer_id=customer_id), actor=actor_of(request), after=decode_instant_cursor(cursor),
            limit=check_limit(limit),
        )
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @get(f"{CUSTOMER}/points", opt=requires(Permission.customers_read))
    async def list_points(
        self, customer_id: FromPath[UUID], cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT
    ) -> Page[schemas.PointsEntry]:
        """The points ledger, newest first; each line with the balance after it."""
        items, last = await queries.list_points(customer_id, after=decode_instant_cursor(cursor), limit=check_limit(limit))
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @post(f"{CUSTOMER}/points/redeem", opt=requires(Permission.customers_write), status_code=HTTP_201_CREATED)
    async def redeem_points(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.PointsRedeem],
        idempotency: IdempotencyHeader = None,
    ) -> schemas.PointsEntry:
        """Spend points; more than the balance is 422 insufficient_points. Honours Idempotency-Key."""
        actor = actor_of(request)
        idem = idempotency_key(f"{_scope(actor)}:redeem:{customer_id}", idempotency, data)
        return await points.redeem_points(customer_id, data, actor=actor, idempotency=idem)

    @post(f"{CUSTOMER}/points/adjust", opt=requires(Permission.loyalty_manage), status_code=HTTP_201_CREATED)
    async def adjust_points(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[schemas.PointsAdjust],
        idempotency: IdempotencyHeader = None,
    ) -> schemas.PointsEntry:
        """Add (positive) or take away (negative) points with a reason; never below zero. Honours
        Idempotency-Key."""
        actor = actor_of(request)
        idem = idempotency_key(f"{_scope(actor)}:adjust:{customer_id}", idempotency, data)
        return await points.adjust_points(customer_id, data, actor=actor, idempotency=idem)


class LoyaltyController(Controller):
    path = "/api/v1/loyalty"
    tags = ["customers"]

    @get("/", opt=requires(Permission.customers_read))
    async def get_programme(self) -> schemas.LoyaltyProgramme:
        """Points per currency unit, when bookings earn, months until points expire, the tier ladder."""
        return await queries.get_programme()

    @put("/", opt=requires(Permission.loyalty_manage))
    async def update_programme(self, request: AnyRequest, data: JSONBody[schemas.LoyaltyProgrammeUpdate]) -> schemas.LoyaltyProgramme:
        """Replace the programme (every branch's grant needed); a changed ladder re-ranks every customer."""
        return await loyalty.update_programme(data, actor=actor_of(request))


class CustomerMergeController(Controller):
    path = "/api/v1/customer-merges"
    tags = ["customers"]

    @get("/{merge_id:uuid}", opt=requires(Permission.customers_read))
    async def get_merge(self, request: AnyRequest, merge_id: FromPath[UUID]) -> schemas.CustomerMerge:
        """A merge: every id it moved, the profile values it copied and the duplicate's values the survivor's
        overrode. Audited when it shows such values (customer.merge_viewed)."""
        found = await queries.merge_in_reach(await queries.get_merge(merge_id), actor_of(request))
        if shown := sorted({*found.profile.filled, *found.profile.conflicts}):
            await record_reveal(
                "customer.merge_viewed", actor=actor_of(request), target=subject(found.survivor_id), fields=shown,
                details={"merge_id": str(merge_id), "duplicate_id": str(found.duplicate_id)},
            )
        return found

    @post("/{merge_id:uuid}/undo", opt=requires(Permission.customers_write), status_code=HTTP_200_OK)
    async def undo_merge(self, request: AnyRequest, merge_id: FromPath[UUID]) -> schemas.CustomerMerge:
        """Put back what the merge moved and show the duplicate again. Undone already: 409 merge_undone."""
        actor = actor_of(request)
        return await queries.merge_in_reach(await merge.undo_merge(merge_id, actor=actor), actor)


SEGMENT = "/{segment_id:uuid}"
EXPORT_PAGE = 200
EXPORT_COLUMNS = (
    "id", "name", "phone", "email", "tier", "tags", "visit_count", "last_visit_at", "lifetime_value", "points", "created_at",
)


class SegmentController(Controller):
    path = "/api/v1/segments"
    tags = ["customers"]

    @get("/", opt=requires(Permission.customers_read))
    async def list_segments(self) -> list[schemas.Segment]:
        """Every saved segment, by key."""
        return await queries.list_segments()

    @post("/", opt=requires(Permission.customers_write), status_code=HTTP_201_CREATED)
    async def create_segment(self, request: AnyRequest, data: JSONBody[schemas.SegmentCreate]) -> schemas.Segment:
        """A saved filter over tags, tier, points, visits, lifetime value, last visit, source channel and
        consent; its key is what rules test in `customer.segments`. A taken key is 409 segment_key_taken."""
        return await segments.create_segment(data, actor=actor_of(request))

    @get(SEGMENT, opt=requires(Permission.customers_read))
    async def get_segment(self, segment_id: FromPath[UUID]) -> schemas.Segment:
        return await queries.get_segment(segment_id)

    @patch(SEGMENT, opt=requires(Permission.customers_write))
    async def update_segment(
        self, request: AnyRequest, segment_id: FromPath[UUID], data: JSONBody[schemas.SegmentUpdate]
    ) -> schemas.Segment:
        """Rename it or replace its filter; the key stays."""
        return await segments.update_segment(segment_id, data, actor=actor_of(request))

    @delete(SEGMENT, opt=requires(Permission.customers_write), status_code=HTTP_204_NO_CONTENT)
    async def delete_segment(self, request: AnyRequest, segment_id: FromPath[UUID]) -> None:
        await segments.delete_segment(segment_id, actor=actor_of(request))

    @get(f"{SEGMENT}/customers", opt=requires(Permission.customers_read))
    async def list_segment_customers(
        self, segment_id: FromPath[UUID], cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT
    ) -> Page[schemas.CustomerSummary]:
        """The customers the segment matches now, newest first."""
        segment = await queries.get_segment(segment_id)
        items, last = await queries.list_customers(
            queries.CustomerFilter(segment=segment.filter), after=decode_instant_cursor(cursor), limit=check_limit(limit)
        )
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @get(f"{SEGMENT}/count", opt=requires(Permission.customers_read))
    async def count_segment(self, segment_id: FromPath[UUID]) -> schemas.SegmentCount:
        segment = await queries.get_segment(segment_id)
        return schemas.SegmentCount(segment_id=segment_id, count=await queries.count_segment(segment.filter))

    @get(f"{SEGMENT}/export", opt=requires(Permission.customers_export))
    async def export_segment(self, request: AnyRequest, segment_id: FromPath[UUID]) -> Stream:
        """The segment's customers as CSV (UTF-8 with a BOM for Excel; text that a spreadsheet would run as a
        formula is quoted), streamed page by page: the profile columns, then a column per field of the
        customers' profile form, headed by its label (in the caller's language). Audited as segment.exported."""
        segment = await segments.record_export(segment_id, actor=actor_of(request))
        locale = locale_from(request.headers.get("accept-language"))
        return Stream(
            _csv_lines(queries.CustomerFilter(segment=segment.filter), locale), media_type=CSV_TYPE,
            headers={"Content-Disposition": f'attachment; filename="segment_{segment.key}.csv"'},
        )


def _csv_line(values: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A value as a CSV cell: lists (tags, a multi select's choices) joined by |, times in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = "|".join(str(v) for v in value)
    return safe_cell(value.isoformat() if hasattr(value, "isoformat") else value)


async def _csv_lines(filters: queries.CustomerFilter, locale: Locale) -> AsyncIterator[str]:
    fields = await profile_fields()  # read once: the columns stay those of the form when the export began
    yield "\ufeff" + _csv_line([*EXPORT_COLUMNS, *(pick(f.label, locale) for f in fields)])
    after = None
    while True:
        items, after = await queries.list_customers(filters, after=after, limit=EXPORT_PAGE)
        custom = await queries.custom_fields_by_customer([item.id for item in items]) if fields else {}
        for item in items:
            row = msgspec.structs.asdict(item)
            answers = custom.get(item.id, {})
            yield _csv_line([*(_cell(row[c]) for c in EXPORT_COLUMNS), *(_cell(answers.get(f.key)) for f in fields)])
        if after is None:
            return
