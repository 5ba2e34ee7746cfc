"""Customer rules that need no I/O: normalising contact details and tags, bounding free-form maps, the facts
derived from a customer's bookings, membership tiers, and points arithmetic."""

from __future__ import annotations

import calendar
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
import phonenumbers

from appliance.catalog.schemas import WEEKDAYS

DEFAULT_REGION = "CN"
T = TypeVar("T")


# A mainland mobile number as people write it: 11 digits starting with 1, perhaps after +86, perhaps
# spaced or hyphenated. Whether it is valid depends only on its first five digits: phonenumbers' pattern
# for CN mobiles looks no further (tests compare the short cut with phonenumbers on random numbers).
_CN_MOBILE = re.compile(r"^(?:\+86)?(1\d{10})$")
_SEPARATORS = re.compile(r"[\s\-]")


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 (`+8613800138000`) for a valid number, else None. Local numbers are read as `region`'s.

    Mainland mobile numbers take a short cut (imports normalise 100,000 of them): phonenumbers judges
    each block of a million numbers once, and the answer is remembered."""
    compact = _SEPARATORS.sub("", raw)
    if (region == "CN" or compact.startswith("+86")) and (mobile := _CN_MOBILE.match(compact)):
        return f"+86{mobile[1]}" if _cn_mobile_block_valid(mobile[1][:5]) else None
    return _parsed_phone(raw, region)


@functools.lru_cache(maxsize=1 << 14)
def _cn_mobile_block_valid(block: str) -> bool:
    return _parsed_phone(f"+86{block}000000", "CN") is not None


def _parsed_phone(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str | None:
    """Trimmed and lower-cased when it looks like an address (one @, a dot in the domain), else None."""
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or " " in email or len(email) > 254:
        return None
    return email


def last4(phone_e164: str | None) -> str:
    """The last four digits the front desk asks for ("尾号"), or "" without a phone."""
    return phone_e164[-4:] if phone_e164 else ""


# --- Tags --------------------------------------------------------------------------------------------

MAX_TAG_LENGTH: Final = 32
MAX_EXTRA_PHONES: Final = 5  # further phones per customer, beside the main one
MAX_TAGS: Final = 30  # per customer: tags are for segments and rules, not a notebook
# Separators a list of tags is written with in a spreadsheet cell or a URL; never part of a tag.
_TAG_SEPARATORS = re.compile(r"[,，;；/|#]")
_SPACES = re.compile(r"\s+")


def normalise_tag(raw: str) -> str | None:
    """One spelling per tag, or None when there is no valid tag in `raw`.

    NFKC (full-width letters and digits become ASCII, as Chinese keyboards type them), case folded,
    runs of white space one space, trimmed; 1–32 characters, no control characters and no separators.
    """
    tag = _SPACES.sub(" ", unicodedata.normalize("NFKC", raw)).strip().casefold()
    if not tag or len(tag) > MAX_TAG_LENGTH or _TAG_SEPARATORS.search(tag):
        return None
    if any(unicodedata.category(ch).startswith("C") for ch in tag):
        return None
    return tag


TAG_RULE: Final = f"1–{MAX_TAG_LENGTH} characters, without , ; / | # or control characters"


# --- Free-form maps: preferences and (until the form engine) custom fields ----------------------------

MAX_MAP_KEYS: Final = 50
MAX_MAP_BYTES: Final = 8 * 1024
_KEY = re.compile(r"^[^\x00-\x1f]{1,64}$")


def map_problems(value: Mapping[str, Any], field: str) -> dict[str, str]:
    """Problems of a preferences or custom-fields map, by path: at most 50 keys of 1–64 characters;
    values text, numbers, true/false, null or lists of text; 8 KB as JSON."""
    problems: dict[str, str] = {}
    if len(value) > MAX_MAP_KEYS:
        return {field: f"at most {MAX_MAP_KEYS} entries"}
    for key, item in value.items():
        if not _KEY.match(key):
            problems[field] = "keys are 1–64 characters"
        elif not _plain(item):
            problems[f"{field}.{key}"] = "text, a number, true/false, null, or a list of text"
    if not problems and len(msgspec.json.encode(value)) > MAX_MAP_BYTES:
        problems[field] = f"at most {MAX_MAP_BYTES // 1024} KB as JSON"
    return problems


def _plain(item: object) -> bool:
    if item is None or isinstance(item, bool | int | float | str):
        return True
    return isinstance(item, list) and all(isinstance(x, str) for x in item)


# --- Facts derived from bookings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """One booking of the customer, as the facts need it."""

    starts_at: datetime
    timezone: str  # the branch's
    status: str
    payment_status: str
    price_amount: int
    service_id: UUID
    staff_ids: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class Facts:
    visit_count: int = 0
    last_visit_at: datetime | None = None
    lifetime_value: int = 0
    no_show_count: int = 0
    cancellation_count: int = 0
    favourite_service: UUID | None = None
    favourite_staff: UUID | None = None
    usual_weekday: str | None = None
    usual_hour: int | None = None


def counts_towards_value(status: str, payment_status: str) -> bool:
    """Lifetime value counts what was paid, and what was completed unless it was refunded."""
    return payment_status == "paid" or (status == "completed" and payment_status != "refunded")


def derive_facts(bookings: Iterable[Visit]) -> Facts:
    """The facts of a customer from their bookings (any order). Visits are completed bookings; the
    favourite service and staff, usual weekday and hour are the most frequent among them, a tie going to
    the one seen most recently; weekday and hour are the branch's local ones."""
    visits = sorted(bookings, key=lambda b: b.starts_at)
    completed = [v for v in visits if v.status == "completed"]

    def local(v: Visit) -> datetime:
        return v.starts_at.astimezone(ZoneInfo(v.timezone))

    return Facts(
        visit_count=len(completed),
        last_visit_at=completed[-1].starts_at if completed else None,
        lifetime_value=sum(v.price_amount for v in visits if counts_towards_value(v.status, v.payment_status)),
        no_show_count=sum(1 for v in visits if v.status == "no_show"),
        cancellation_count=sum(1 for v in visits if v.status == "cancelled"),
        favourite_service=_most_frequent(v.service_id for v in completed),
        favourite_staff=_most_frequent(s for v in completed for s in v.staff_ids),
        usual_weekday=_most_frequent(WEEKDAYS[local(v).weekday()] for v in completed),
        usual_hour=_most_frequent(local(v).hour for v in completed),
    )


def _most_frequent(items: Iterable[T]) -> T | None:
    """The commonest item; among equals, the one seen last (items come oldest first)."""
    counts: Counter[T] = Counter()
    last_seen: dict[T, int] = {}
    for position, item in enumerate(items):
        counts[item] += 1
        last_seen[item] = position
    if not counts:
        return None
    return max(counts, key=lambda item: (counts[item], last_seen[item]))


# --- Membership tiers -----------------------------------------------------------------------------------


class Tier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A rung of the ladder: reached with `min_spend` lifetime value (minor units) or `min_points` points
    earned, whichever is set and met first. `benefits` are labels for staff and rules (auto-approval,
    priority) to act on."""

    key: str
    name: str
    min_spend: int | None = None
    min_points: int | None = None
    benefits: list[str] = []


DEFAULT_TIERS: Final[tuple[Tier, ...]] = (
    Tier("normal", "普通会员", min_spend=0),
    Tier("silver", "银卡会员", min_spend=100_000, benefits=["生日礼"]),
    Tier("gold", "金卡会员", min_spend=500_000, benefits=["生日礼", "优先预约"]),
    Tier("vip", "VIP", min_spend=2_000_000, benefits=["生日礼", "优先预约", "免审核"]),
)
MAX_TIERS: Final = 10
_TIER_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def earned_tier(tiers: Sequence[Tier], lifetime_value: int, points_earned: int) -> str | None:
    """The highest tier whose threshold is met (tiers lowest first), or None below the first."""
    reached = None
    for tier in tiers:
        if (tier.min_spend is not None and lifetime_value >= tier.min_spend) or (
            tier.min_points is not None and points_earned >= tier.min_points
        ):
            reached = tier.key
    return reached


def tiers_problems(tiers: Sequence[Tier]) -> dict[str, str]:
    """What is wrong with a ladder, by path (`tiers[1].min_spend`)."""
    if not 1 <= len(tiers) <= MAX_TIERS:
        return {"tiers": f"give 1–{MAX_TIERS} tiers, lowest first"}
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for index, tier in enumerate(tiers):
        path = f"tiers[{index}]"
        if not _TIER_KEY.match(tier.key):
            problems[f"{path}.key"] = "a lower-case name of letters, digits and _, starting with a letter (≤ 32)"
        elif tier.key in seen:
            problems[f"{path}.key"] = f"{tier.key} is given twice"
        seen.add(tier.key)
        if not tier.name.strip() or len(tier.name) > 50:
            problems[f"{path}.name"] = "1–50 characters"
        if tier.min_spend is None and tier.min_points is None:
            problems[f"{path}.min_spend"] = "set min_spend, min_points or both"
        for name, value in (("min_spend", tier.min_spend), ("min_points", tier.min_points)):
            if value is not None and not 0 <= value <= 10**12:
                problems[f"{path}.{name}"] = "a whole number from 0"
        if len(tier.benefits) > 20 or any(not b.strip() or len(b) > 50 for b in tier.benefits):
            problems[f"{path}.benefits"] = "at most 20 labels of 1–50 characters"
    return problems


# --- Points ---------------------------------------------------------------------------------------------

MINOR_UNITS_PER_UNIT: Final = 100  # fen per yuan; the appliance's currencies have two decimals


def points_for(amount: int, points_per_unit: int) -> int:
    """Points earned for spending `amount` minor units: whole points, rounded down."""
    return max(amount, 0) * points_per_unit // MINOR_UNITS_PER_UNIT


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later; the month's last day when it is shorter (31 Jan + 1 = 28 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Lot:
    """What is left of a credit, spendable until it expires."""

    id: UUID
    remaining: int
    expires_at: datetime | None
    created_at: datetime


def take_from_lots(lots: Sequence[Lot], points: int) -> list[tuple[UUID, int]]:
    """(lot, points taken) to spend `points`: the lots that expire first are spent first (those that never
    expire last), oldest first among equals. Takes what there is when the lots hold less."""
    order = sorted(lots, key=lambda lot: (lot.expires_at is None, lot.expires_at or lot.created_at, lot.created_at, str(lot.id)))
    taken: list[tuple[UUID, int]] = []
    for lot in order:
        if points <= 0:
            break
        take = min(lot.remaining, points)
        if take > 0:
            taken.append((lot.id, take))
            points -= take
    return taken


# --- Consent -----------------------------------------------------------------------------------------

# What a customer may agree to or refuse: marketing, processing their data beyond bookings, and each
# message channel (notifications.catalogue.CHANNELS; refusing one is what an opt-out is).
CONSENT_PURPOSES: Final = ("marketing", "data_processing", "email", "sms", "wecom", "dingtalk", "inbox")
CONSENT_SOURCES: Final = ("staff", "api", "portal", "link", "import", "merge")


def most_restrictive(first: bool | None, second: bool | None) -> bool | None:
    """Two records of one choice combined (a merge): a refusal wins, then a consent, then no choice."""
    if first is False or second is False:
        return False
    if first or second:
        return True
    return None


# --- Segments: saved filters over non-personal columns -------------------------------------------------

SEGMENT_KEY: Final = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
SEGMENT_KEY_RULE: Final = "1–64 lower-case letters, digits, - or _, starting with a letter"
MAX_FILTER_ITEMS: Final = 30
Count = Annotated[int, msgspec.Meta(ge=0, le=10**12)]
Items = Annotated[tuple[str, ...], msgspec.Meta(max_length=MAX_FILTER_ITEMS)]
Instant = Annotated[datetime, msgspec.Meta(tz=True)]


class SegmentFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Customers matching every criterion given; an empty filter matches every customer. Only non-personal
    columns: names, phones and emails are encrypted and not for filtering. A customer merged into another
    never matches."""

    tags_all: Items = ()  # has every one of these tags
    tags_any: Items = ()  # has at least one of these tags
    tiers: Items = ()  # membership tier in force is one of these
    points_min: Count | None = None  # spendable balance now
    points_max: Count | None = None
    visit_count_min: Count | None = None
    visit_count_max: Count | None = None
    lifetime_value_min: Count | None = None  # minor units (fen)
    lifetime_value_max: Count | None = None
    last_visit_before: Instant | None = None  # customers who never visited match neither
    last_visit_after: Instant | None = None
    source_channels: Items = ()
    consent: dict[str, bool] = {}  # purpose → true: agreed is recorded; false: refused is recorded


def segment_filter_problems(found: SegmentFilter, field: str = "filter") -> dict[str, str]:
    """Every problem of a filter by field: tags that are no tag, unknown purposes, empty ranges."""
    problems: dict[str, str] = {}
    for name in ("tags_all", "tags_any"):
        for index, tag in enumerate(getattr(found, name)):
            if normalise_tag(tag) is None:
                problems[f"{field}.{name}[{index}]"] = TAG_RULE
    for purpose in found.consent:
        if purpose not in CONSENT_PURPOSES:
            problems[f"{field}.consent.{purpose}"] = f"one of: {', '.join(CONSENT_PURPOSES)}"
    for low, high in (("points_min", "points_max"), ("visit_count_min", "visit_count_max"),
                      ("lifetime_value_min", "lifetime_value_max"), ("last_visit_after", "last_visit_before")):
        first, second = getattr(found, low), getattr(found, high)
        if first is not None and second is not None and first > second:
            problems[f"{field}.{high}"] = f"must not be below {low}"
    return problems


def normalised_filter(found: SegmentFilter) -> SegmentFilter:
    """Tags in their one spelling, so a saved filter matches as tags are stored (problems checked first)."""
    return msgspec.structs.replace(
        found, tags_all=tuple(normalise_tag(t) or t for t in found.tags_all),
        tags_any=tuple(normalise_tag(t) or t for t in found.tags_any),
    )


def _placeholders(values: Sequence[object]) -> str:
    return ", ".join("{}" for _ in values)


def segment_where(found: SegmentFilter, now: datetime) -> tuple[str, list[Any]]:
    """The filter as one SQL condition on the `customer` table, with `{}` placeholders (Piccolo's, bound
    per engine) and their values in order: no value is ever written into the SQL text. The same on
    PostgreSQL and SQLite."""
    clauses = ["customer.merged_into IS NULL"]
    values: list[Any] = []
    for tag in found.tags_all:
        clauses.append("EXISTS (SELECT 1 FROM customer_tag t WHERE t.customer = customer.id AND t.tag = {})")
        values.append(tag)
    if found.tags_any:
        clauses.append(
            f"EXISTS (SELECT 1 FROM customer_tag t WHERE t.customer = customer.id AND t.tag IN ({_placeholders(found.tags_any)}))"
        )
        values.extend(found.tags_any)
    for column, items in (("tier", found.tiers), ("source_channel", found.source_channels)):
        if items:
            clauses.append(f"customer.{column} IN ({_placeholders(items)})")
            values.extend(items)
    balance = (
        "(SELECT COALESCE(SUM(p.remaining), 0) FROM points_entry p WHERE p.customer = customer.id AND p.remaining > 0 "
        "AND (p.expires_at IS NULL OR p.expires_at > {}))"
    )
    for value, operator in ((found.points_min, ">="), (found.points_max, "<=")):
        if value is not None:
            clauses.append(f"{balance} {operator} {{}}")
            values.extend([now, value])
    ranges: tuple[tuple[str, int | datetime | None, str], ...] = (
        ("visit_count", found.visit_count_min, ">="), ("visit_count", found.visit_count_max, "<="),
        ("lifetime_value", found.lifetime_value_min, ">="), ("lifetime_value", found.lifetime_value_max, "<="),
        ("last_visit_at", found.last_visit_before, "<"), ("last_visit_at", found.last_visit_after, ">="),
    )
    for column, bound, operator in ranges:
        if bound is not None:
            clauses.append(f"customer.{column} {operator} {{}}")
            values.append(bound)
    for purpose, granted in sorted(found.consent.items()):
        clauses.append(
            "EXISTS (SELECT 1 FROM customer_consent k WHERE k.customer = customer.id AND k.purpose = {} AND k.granted = {})"
        )
        values.extend([purpose, granted])
    return " AND ".join(clauses), values
