"""Customers: the profile, facts derived from their bookings, tags, staff notes, the points ledger, and
the loyalty programme (points rate, expiry, membership tiers).

Personal data is sealed (field encryption, `appliance.core.crypto`): the customer's name, phone, email,
gender, birthday, preferences and custom fields, note bodies and logged interactions' notes hold sealed
values (the registry `appliance.core.crypto.registry.SEALED` lists them), written and read through
`customers.sealing`; so are a customer's further phones (`CustomerPhone`). Exact lookups (phone, email,
full name, the phone's last four digits) use blind indexes, only through `customers.queries.find_customer_ids`.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from appliance.forms.tables import Form


class Customer(Table):
    id = UUID(primary_key=True)
    # Sealed ("" or None: none). Inside: the name; the phone in E.164; the email lower-cased; the gender
    # (female | male | other); the birthday (ISO date); preferences and custom fields (JSON maps).
    name = Text(default="")
    phone = Text(null=True, default=None)
    email = Text(null=True, default=None)
    gender = Text(null=True, default=None)
    birthday = Text(null=True, default=None)
    preferences = Text(default="")
    custom_fields = Text(default="")  # answers to the customers' profile form (`forms.answers.check_profile_fields`)
    # The profile form (and its version) the custom fields were last checked against; none: never checked
    # (written before there was a form, or by an import), like a booking's answers keep theirs.
    custom_fields_form = ForeignKey(Form, null=True, on_delete=OnDelete.restrict)
    custom_fields_form_version = Integer(null=True, default=None)
    # Blind indexes (32 hex digits, `core.crypto.registry.BLIND_INDEXES`): the exact full name, the phone
    # (one customer per phone), its last four digits (the front desk's "手机尾号" search), the email.
    name_bidx = Varchar(length=32, null=True, default=None, index=True)
    phone_bidx = Varchar(length=32, null=True, default=None, unique=True)
    phone_last4_bidx = Varchar(length=32, null=True, default=None, index=True)
    email_bidx = Varchar(length=32, null=True, default=None, index=True)
    source_channel = Varchar(length=32, default="")
    # Membership: the tier reached by the programme's thresholds, a staff override, and the one in force.
    tier = Varchar(length=32, null=True, default=None, index=True)
    earned_tier = Varchar(length=32, null=True, default=None)
    tier_override = Varchar(length=32, null=True, default=None)
    # Facts derived from the customer's bookings, kept current in each booking change's transaction
    # (customers.facts); `facts_updated_at` says when.
    visit_count = Integer(default=0)  # completed bookings
    last_visit_at = Timestamptz(null=True, default=None)
    lifetime_value = BigInt(default=0)  # minor units: paid bookings, and completed ones not refunded
    no_show_count = Integer(default=0)
    cancellation_count = Integer(default=0)
    favourite_service = UUID(null=True, default=None)
    favourite_staff = UUID(null=True, default=None)
    usual_weekday = Varchar(length=3, null=True, default=None)  # mon … sun, in the branch's time zone
    usual_hour = Integer(null=True, default=None)
    facts_updated_at = Timestamptz(null=True, default=None)
    # Set when this customer was merged into another (customers.merge): kept, hidden from the list and
    # lookups follow it to the survivor, so the merge can be undone.
    merged_into = UUID(null=True, default=None, index=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # Set when the person's data was erased (PIPL art. 47, `customers.actions.erase_customer`): the row
    # stays, anonymous, for the bookings and the points ledger that point to it.
    erased_at = Timestamptz(null=True, default=None)


class CustomerPhone(Table):
    """One of a customer's further phones (the main one is `Customer.phone`), at most `logic.MAX_EXTRA_PHONES`.
    A phone is one customer's, as the main or a further one: the unique index holds within this table,
    `customers.actions.update_customer` across both (its blind indexes are the customer's, `registry`)."""

    id = UUID(primary_key=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, index=True)
    phone = Text(default="")  # sealed: E.164
    phone_bidx = Varchar(length=32, null=True, default=None, unique=True)
    phone_last4_bidx = Varchar(length=32, null=True, default=None, index=True)
    created_at = Timestamptz()


class CustomerTag(Table):
    """One normalised tag on one customer; (customer, tag) is unique (migration 2026-11-26T16:10)."""

    id = UUID(primary_key=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, index=True)
    tag = Varchar(length=32, index=True)
    created_at = Timestamptz()


class CustomerNote(Table):
    """A staff note on a customer, with its author and time. Notes are product data, never audit details."""

    id = UUID(primary_key=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, index=True)
    body = Text(default="")  # sealed
    author_kind = Varchar(length=16, default="")
    author_id = Varchar(length=64, null=True, default=None)
    author_label = Varchar(length=150, default="")
    created_at = Timestamptz(index=True)


class PointsEntry(Table):
    """One line of a customer's points ledger. A credit is also a lot: `remaining` is what is left of it
    to spend until `expires_at`; debits (redeem, negative adjustments, reversals, expiry) take from the
    lots that expire first. The balance is the sum of what remains of lots not yet expired, so it is
    exact at any instant; the housekeeping job only writes the `expire` lines for the record."""

    id = UUID(primary_key=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=16)  # earn | bonus | adjust | redeem | reverse | expire
    points = Integer()  # signed
    remaining = Integer(default=0)  # of a credit: not yet spent or expired; 0 for debits
    expires_at = Timestamptz(null=True, default=None, index=True)  # of a credit; None: never
    balance_after = Integer(default=0)
    booking = UUID(null=True, default=None)
    reason = Varchar(length=500, default="")
    # What makes the line happen once: earn:<booking>, rule:<rule>:<event>:<n>, api:<caller>:<key>.
    key = Varchar(length=300, null=True, default=None, unique=True)
    actor_label = Varchar(length=150, default="")
    created_at = Timestamptz()


class LoyaltyProgramme(Table):
    """The loyalty settings, one row (id "default"); absent, the built-in defaults apply."""

    id = Varchar(length=16, primary_key=True)
    points_per_unit = Integer(default=1)  # points per currency unit (100 minor units) spent
    earn_on = Varchar(length=16, default="paid")  # paid | completed
    expiry_months = Integer(default=12)  # 0: points never expire
    tiers = JSON(default=[])  # [{"key", "name", "min_spend", "min_points", "benefits"}, …] lowest first
    revision = Integer(default=1)
    updated_at = Timestamptz()


class CustomerConsent(Table):
    """A customer's recorded choice for one purpose (marketing, data_processing, or a message channel):
    the one source of truth, which the notifications' opt-out check reads. No row: no choice recorded."""

    id = UUID(primary_key=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, index=True)
    purpose = Varchar(length=32)
    granted = Boolean(default=False)
    source = Varchar(length=16, default="staff")  # staff | link | api | portal | import | merge
    name = Varchar(length=80, unique=True)  # "<customer>:<purpose>": one choice per purpose
    changed_at = Timestamptz()


class CustomerInteraction(Table):
    """A call, visit or message staff logged on a customer: the communication log beside messages sent."""

    id = UUID(primary_key=True)
    customer = ForeignKey(Customer, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=16)  # call | visit | message
    note = Text(default="")  # sealed
    at = Timestamptz(index=True)
    author_kind = Varchar(length=16, default="")
    author_id = Varchar(length=64, null=True, default=None)
    author_label = Varchar(length=150, default="")
    created_at = Timestamptz()


class Segment(Table):
    """A saved customer filter over non-personal columns (customers.logic.SegmentFilter), by a stable key
    rules name in `customer.segments`."""

    id = UUID(primary_key=True)
    key = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    filter = JSON(default={})
    revision = Integer(default=1)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class CustomerMerge(Table):
    """What one merge moved from the duplicate to the survivor, by id, and the profile values it copied,
    so that it can be undone; and the duplicate's values the survivor's overrode."""

    id = UUID(primary_key=True)
    survivor = UUID(index=True)
    duplicate = UUID(index=True)
    moved = JSON(default={})  # schemas.MergeMoved: ids moved, tags added, consent changed, fields filled
    profile = Text(default="")  # sealed: schemas.MergeProfile, the values copied and those overridden
    merged_by = Varchar(length=150, default="")
    merged_at = Timestamptz()
    undone_at = Timestamptz(null=True, default=None)
