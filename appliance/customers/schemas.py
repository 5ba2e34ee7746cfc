"""Customers as bookings carry them and as the CRM API takes and shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from appliance.catalog.schemas import Money
from appliance.customers.logic import DEFAULT_TIERS, MAX_TAGS, SegmentFilter, Tier

Gender = Literal["female", "male", "other"]
EarnOn = Literal["paid", "completed"]
PointsKind = Literal["earn", "bonus", "adjust", "redeem", "reverse", "expire"]
# customers.logic.CONSENT_PURPOSES, CONSENT_SOURCES (a test keeps them in step)
ConsentPurpose = Literal["marketing", "data_processing", "email", "sms", "wecom", "dingtalk", "inbox"]
ConsentSource = Literal["staff", "api", "portal", "link", "import", "merge"]
InteractionKind = Literal["call", "visit", "message"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Phone = Annotated[str, msgspec.Meta(min_length=3, max_length=32)]
Email = Annotated[str, msgspec.Meta(max_length=254)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
MAX_POINTS = 1_000_000


class CustomerContact(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    phone: Phone
    email: Email | None = None


class CustomerErase(msgspec.Struct, forbid_unknown_fields=True):
    # The data-subject request this answers (its reference): kept in the audit log.
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class CustomerErased(msgspec.Struct):
    id: UUID
    erased_at: datetime


class CustomerUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change; null clears the optional ones. `tier_override` needs loyalty.manage."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    phone: Phone | msgspec.UnsetType = msgspec.UNSET
    # Further phones, replacing the stored ones ([]: none); each checked as `phone` is, 422 naming `extra_phones[i]`.
    extra_phones: list[str] | msgspec.UnsetType = msgspec.UNSET
    email: Email | None | msgspec.UnsetType = msgspec.UNSET
    gender: Gender | None | msgspec.UnsetType = msgspec.UNSET
    birthday: date | None | msgspec.UnsetType = msgspec.UNSET
    preferences: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    custom_fields: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    tier_override: str | None | msgspec.UnsetType = msgspec.UNSET


class TagsAdd(msgspec.Struct, forbid_unknown_fields=True):
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(min_length=1, max_length=MAX_TAGS)]


class Tags(msgspec.Struct):
    tags: list[str]


class NoteCreate(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class Note(msgspec.Struct):
    id: UUID
    body: str
    author_kind: str
    author_id: str | None
    author_label: str
    created_at: datetime


class ConsentChange(msgspec.Struct, forbid_unknown_fields=True):
    """The choices given change (true: agreed, false: refused); the others stay as they are."""

    consent: Annotated[dict[ConsentPurpose, bool], msgspec.Meta(min_length=1)]
    source: Literal["staff", "api", "portal"] = "staff"  # how the customer told us


class ConsentChoice(msgspec.Struct):
    purpose: str
    granted: bool | None  # None: no choice recorded (messages on a channel are sent; marketing is not)
    changed_at: datetime | None
    source: str | None


class InteractionCreate(msgspec.Struct, forbid_unknown_fields=True):
    kind: InteractionKind
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    at: datetime | None = None  # when it happened, with its offset; default now; never in the future


class CommunicationEntry(msgspec.Struct):
    """One line of the communication log: a message the appliance sent (source "notification"), or a call,
    visit or message staff logged (source "staff")."""

    id: UUID
    source: Literal["notification", "staff"]
    kind: str  # call | visit | message
    at: datetime
    note: str  # what staff wrote; "" for messages sent (their text is not kept)
    channel: str | None  # of a message sent: email, sms …
    template: str | None
    status: str | None  # of a message sent: queued, deferred, sent, skipped, failed
    booking_id: UUID | None
    author_label: str | None  # who logged it


class CustomerBrief(msgspec.Struct):
    """Who a booking is for, as lists of bookings show it."""

    id: UUID
    name: str
    phone: str | None


class Named(msgspec.Struct):
    id: UUID
    name: str


class Facts(msgspec.Struct):
    """Derived from the customer's bookings, kept current with every booking change."""

    visit_count: int  # completed bookings
    last_visit_at: datetime | None
    lifetime_value: int  # minor units (fen): paid bookings, and completed ones not refunded
    no_show_count: int
    cancellation_count: int
    favourite_service: Named | None
    favourite_staff: Named | None
    usual_weekday: str | None  # mon … sun, in the branch's time zone
    usual_hour: int | None
    updated_at: datetime | None


class Expiring(msgspec.Struct):
    points: int
    expires_at: datetime


class Points(msgspec.Struct):
    balance: int
    earned: int  # ever credited (earned, awarded, added by staff) less reversals: what points tiers count
    next_expiry: Expiring | None  # the soonest lot to expire


class Membership(msgspec.Struct):
    tier: str | None  # in force: the override, else the earned tier
    tier_name: str | None
    benefits: list[str]
    earned_tier: str | None
    tier_override: str | None


class BookingBrief(msgspec.Struct):
    id: UUID
    status: str
    starts_at: datetime
    branch_id: UUID
    service_id: UUID
    service_name: str
    price: Money
    payment_status: str


class CustomerSummary(msgspec.Struct):
    id: UUID
    name: str
    phone: str | None
    email: str | None
    tier: str | None
    tags: list[str]
    visit_count: int
    last_visit_at: datetime | None
    lifetime_value: int
    points: int
    created_at: datetime


class Customer(msgspec.Struct):
    """The 360 view: profile, membership, derived facts, points, recent bookings and notes."""

    id: UUID
    name: str
    phone: str | None
    extra_phones: list[str]  # further phones (E.164), in number order
    email: str | None
    gender: str | None
    birthday: date | None
    source_channel: str
    tags: list[str]
    preferences: dict[str, Any]
    custom_fields: dict[str, Any]
    # The profile form and version the custom fields were checked against (none: never checked).
    custom_fields_form_id: UUID | None
    custom_fields_form_version: int | None
    consent: list[ConsentChoice]  # every purpose, in customers.logic.CONSENT_PURPOSES order
    membership: Membership
    facts: Facts
    points: Points
    recent_bookings: list[BookingBrief]  # the latest 10 in the branches the caller may read
    notes: list[Note]  # the latest 20; GET …/notes pages through all
    communications: list[CommunicationEntry]  # the latest 20; GET …/communications pages through all
    segments: list[str]  # keys of the saved segments the customer is in now
    merged_into: UUID | None  # set when this customer was merged into that one
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None = None  # the person's data was erased then; the record is anonymous


class PointsRedeem(msgspec.Struct, forbid_unknown_fields=True):
    points: Annotated[int, msgspec.Meta(ge=1, le=MAX_POINTS)]
    reason: Reason = ""


class PointsAdjust(msgspec.Struct, forbid_unknown_fields=True):
    points: Annotated[int, msgspec.Meta(ge=-MAX_POINTS, le=MAX_POINTS)]  # not 0
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class PointsEntry(msgspec.Struct):
    id: UUID
    kind: str
    points: int
    balance_after: int
    remaining: int  # of a credit: what is left to spend
    expires_at: datetime | None
    booking_id: UUID | None
    reason: str
    actor_label: str
    created_at: datetime


class LoyaltyProgrammeUpdate(msgspec.Struct, forbid_unknown_fields=True):
    points_per_unit: Annotated[int, msgspec.Meta(ge=0, le=1000)]  # per currency unit (100 fen) spent; 0: none
    earn_on: EarnOn  # when a booking earns: once paid, or once completed
    expiry_months: Annotated[int, msgspec.Meta(ge=0, le=120)]  # 0: never
    tiers: list[Tier]  # lowest first


class LoyaltyProgramme(msgspec.Struct):
    points_per_unit: int
    earn_on: str
    expiry_months: int
    tiers: list[Tier]
    revision: int  # 0 while the built-in defaults apply
    updated_at: datetime | None


# The programme until someone configures one: a point per yuan once paid, kept 12 months, four tiers.
DEFAULT_PROGRAMME = LoyaltyProgramme(
    points_per_unit=1, earn_on="paid", expiry_months=12, tiers=list(DEFAULT_TIERS), revision=0, updated_at=None
)


SegmentKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
SegmentName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class SegmentCreate(msgspec.Struct, forbid_unknown_fields=True):
    key: SegmentKey  # what rules name in `customer.segments`: lower-case letters, digits, - and _
    name: SegmentName
    filter: SegmentFilter


class SegmentUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change; the key stays (rules name it)."""

    name: SegmentName | msgspec.UnsetType = msgspec.UNSET
    filter: SegmentFilter | msgspec.UnsetType = msgspec.UNSET


class Segment(msgspec.Struct):
    id: UUID
    key: str
    name: str
    filter: SegmentFilter
    revision: int
    created_at: datetime
    updated_at: datetime


class SegmentCount(msgspec.Struct):
    segment_id: UUID
    count: int


class MergeRequest(msgspec.Struct, forbid_unknown_fields=True):
    duplicate_id: UUID  # merged into the customer of the path, then hidden (kept, so the merge can be undone)


class MergeMoved(msgspec.Struct):
    """What a merge moved from the duplicate to the survivor, by id, and what it changed on the survivor."""

    bookings: list[UUID] = []
    points: list[UUID] = []
    notes: list[UUID] = []
    interactions: list[UUID] = []
    messages: list[UUID] = []
    tags_added: list[str] = []  # the duplicate's tags the survivor did not have
    consent_before: dict[str, bool | None] = {}  # the survivor's choices the merge changed, as they were
    fields_filled: list[str] = []  # the survivor's blank profile fields (or map entries) copied from the duplicate
    # The survivor, with no custom fields of its own, took the duplicate's profile-form reference with them.
    form_taken: bool = False


class MergeProfile(msgspec.Struct):
    """The profile values a merge copies to the survivor, and the duplicate's values the survivor's
    override (kept here, not lost), by field; for preferences and custom fields, by entry. Personal data:
    sealed in the merge record (`customer_merge.profile`)."""

    filled: dict[str, Any] = {}
    conflicts: dict[str, Any] = {}


class MergePreview(msgspec.Struct):
    """How many of the duplicate's records a merge would move, and the tags it would add."""

    bookings: int
    points: int
    notes: int
    interactions: int
    messages: int
    tags_added: list[str]
    profile: MergeProfile


class CustomerMerge(msgspec.Struct):
    id: UUID
    survivor_id: UUID
    duplicate_id: UUID
    moved: MergeMoved
    profile: MergeProfile
    merged_by: str
    merged_at: datetime
    undone_at: datetime | None


class ImportedCustomer(msgspec.Struct, frozen=True):
    """A customer read from an import file, already checked and normalised (`imports.logic`): phone in
    E.164, email lower-cased, tags normalised, tier a key of the ladder. At least a phone or an email."""

    row: int  # the file's row number, to say which row a result belongs to
    name: str
    phone: str | None = None
    email: str | None = None
    gender: str | None = None
    birthday: date | None = None
    source_channel: str = ""
    tags: list[str] = []
    tier: str | None = None
    points: int | None = None
    note: str | None = None


class ImportedCustomers(msgspec.Struct):
    """What `import_customers` did with a batch: the customer of each row, and counts."""

    ids: dict[int, UUID]  # row → customer
    created: int = 0
    updated: int = 0  # existing customers whose blank fields were filled or who got new tags
    unchanged: int = 0
