"""The only code that writes customer profiles, tags and notes (points: `customers.points`; tiers and the
programme: `customers.loyalty`; derived facts: `customers.facts`). Every change is audited with the names
of the changed fields only: no personal value goes into an audit entry or a log line."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import add_audit_entry, record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings.states import OPEN
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.core.db import (
    TableRows, insert_many, insert_rows, is_unique_violation, lock_all_for_transaction, lock_for_transaction, row_for,
    write_transaction,
)
from appliance.core.errors import Conflict, Forbidden, Invalid, NotFound
from appliance.customers import schemas
from appliance.customers.logic import (
    CONSENT_PURPOSES, MAX_EXTRA_PHONES, MAX_TAGS, TAG_RULE, add_months, earned_tier, map_problems, normalise_email, normalise_phone,
    normalise_tag,
)
from appliance.customers.sealing import (
    PERSONAL_FIELDS, customer_columns, extra_phone_columns, interaction_note, lookup_indexes, note_body, opened_customer,
    opened_phone,
)
from appliance.customers.queries import (
    check_customer_in_reach, extra_phones_of, find_customer_ids, find_customers_by_contacts, match_phone, get_programme,
    interaction_entry,
    note_schema, records_of, tags_of,
)
from appliance.customers.tables import (
    Customer, CustomerConsent, CustomerInteraction, CustomerMerge, CustomerNote, CustomerPhone, CustomerTag, PointsEntry,
)
from appliance.events.envelope import Subject
from appliance.forms.answers import check_profile_fields
from appliance.forms.schemas import Locale
from appliance.notifications.tables import InboxItem
from appliance.surveys.tables import SurveyAnswer


def validated_contact(contact: schemas.CustomerContact, *, field: str = "customer") -> tuple[str, str, str | None]:
    """(name, E.164 phone, email) or Invalid naming the bad part."""
    phone = normalise_phone(contact.phone)
    email = normalise_email(contact.email) if contact.email else None
    problems = {}
    if phone is None:
        problems[f"{field}.phone"] = "not a valid phone number"
    if contact.email and email is None:
        problems[f"{field}.email"] = "not a valid email address"
    if not contact.name.strip():
        problems[f"{field}.name"] = "required"
    if problems:
        raise Invalid(problems)
    assert phone is not None
    return contact.name.strip(), phone, email


def stored_contact(
    customer_id: UUID, *, name: str | None = None, phone: str | None = None, email: str | None = None
) -> dict[str, Any]:
    """The stored columns of a customer's contact details, by column name, from normalised values (an
    E.164 phone, a lower-cased email); only those given: sealed, with their blind indexes
    (`customers.sealing`)."""
    given = {k: v for k, v in (("name", name), ("phone", phone), ("email", email)) if v is not None}
    return customer_columns(customer_id, **given)


def subject(customer_id: UUID) -> Subject:
    return Subject("customer", str(customer_id))


async def lock_customer(customer_id: UUID) -> None:
    """Serialise the transactions that change one customer's facts, points or tier (PostgreSQL; SQLite
    writes one at a time anyway), so each reads what the one before it committed."""
    await lock_for_transaction(f"customer:{customer_id}")


def _erased() -> Conflict:
    return Conflict("this customer's data was erased: it is not filled in again", code="customer_erased")


async def _require_unerased(customer_id: UUID) -> None:
    row = await Customer.select(Customer.erased_at).where(Customer.id == customer_id).first()
    if row is None:
        raise NotFound("no such customer")
    if row["erased_at"] is not None:
        raise _erased()


def _check(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise Forbidden(f"this needs the permission {permission.value}")


async def match_or_create_customer(contact: schemas.CustomerContact, *, channel: str, actor: Actor) -> UUID:
    """The customer with this phone number, or a new one. Joins the caller's transaction."""
    async with write_transaction():
        customer_id, new_row = await match_or_plan_customer(contact, channel=channel, actor=actor)
        if new_row is not None:
            await insert_rows(new_row)
        return customer_id


async def match_or_plan_customer(
    contact: schemas.CustomerContact, *, channel: str, actor: Actor
) -> tuple[UUID, TableRows | None]:
    """Inside the caller's write transaction: the customer with this phone number, or a new one audited
    whose row the caller inserts with its own next insert (a booking and its new customer, one statement on
    PostgreSQL), before anything reads or references it. The phone stays locked to the commit."""
    name, phone, email = validated_contact(contact)
    match = await match_phone(phone)
    if match.customer_id is None and await lock_phones([phone]):
        match = await match_phone(phone)  # another transaction may have claimed it as a further phone
    if match.customer_id is not None:
        return match.customer_id, None
    now = utc_now()
    customer_id = uuid4()
    tier = earned_tier(match.tiers, 0, 0)
    new_row = row_for(Customer, {
        "id": customer_id, **stored_contact(customer_id, name=name, phone=phone, email=email),
        "source_channel": channel, "tier": tier, "earned_tier": tier, "created_at": now, "updated_at": now,
    })
    await record_change(
        "customer.created", subject(customer_id),
        {"customer_id": str(customer_id), "source_channel": channel}, actor=actor,
        changed_fields=["name", "phone"] + (["email"] if email else []),
    )
    return customer_id, new_row


# Phones are locked by bucket of their blind index: an import batch's thousand phones then hold at most this
# many advisory locks (PostgreSQL's lock table is shared, a few thousand entries in all), at the price of a
# booking that creates a customer waiting for the import batch under way: its transaction, a fraction of a
# second for customers, longer for bookings (their facts and rollups are derived in it too).
PHONE_LOCK_BUCKETS: Final = 64


async def lock_phones(phones: Sequence[str]) -> bool:
    """Serialise the transactions that give a customer any of these E.164 phones, main or further, to the
    commit (PostgreSQL: the unique indexes hold within each table, not across both); whether it locked.
    SQLite needs none: its write transactions are one at a time."""
    indexes = {index for phone in phones for index in lookup_indexes("phone", phone)}
    return await lock_all_for_transaction({f"phones:{zlib.crc32(i.encode()) % PHONE_LOCK_BUCKETS}" for i in indexes})


async def _claim_phones(customer_id: UUID, phones: Sequence[str]) -> None:
    """409 phone_taken when another customer has one of these phones as their main or a further one;
    the phones stay locked to the commit."""
    await lock_phones(phones)
    for phone in phones:
        if any(owner != customer_id for owner in await find_customer_ids(phone=phone, limit=2)):
            raise Conflict("another customer has this phone number", code="phone_taken")


async def update_customer(
    customer_id: UUID, data: schemas.CustomerUpdate, *, actor: Actor, locale: Locale = "en"
) -> list[str]:
    """Change the profile fields given; returns the names of those that changed. A phone another customer
    has (as their main or a further phone) is a 409, for the main phone and further ones alike (merging
    duplicates is its own action); further phones replace the stored ones, at most `MAX_EXTRA_PHONES`,
    none the main phone; a tier override must name a tier of the ladder.
    Custom fields replace the stored ones and are checked against the customers' profile form (a 422
    naming `custom_fields.<key>` in `locale`); they are kept with that form's id and version."""
    _check(actor, Permission.customers_write)
    given = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if "tier_override" in given:
        _check(actor, Permission.loyalty_manage)
    values, problems = _validated(given)
    extras: list[str] | None = values.pop("extra_phones", None)
    if "tier_override" in values and values["tier_override"] is not None:
        keys = [t.key for t in (await get_programme()).tiers]
        if values["tier_override"] not in keys:
            problems["tier_override"] = f"one of: {', '.join(keys)}, or null to follow the earned tier"
    if problems:
        raise Invalid(problems)
    try:
        async with write_transaction():
            await lock_customer(customer_id)
            row = await Customer.select().where(Customer.id == customer_id).first()
            if row is None:
                raise NotFound("no such customer")
            if row["erased_at"] is not None:
                raise _erased()
            row = opened_customer(row)
            form: tuple[UUID | None, int | None] | None = None
            if "custom_fields" in values:
                checked = await check_profile_fields(values["custom_fields"], kept=row["custom_fields"], locale=locale)
                values["custom_fields"] = msgspec.to_builtins(checked.answers)
                form = (checked.form_id, checked.version)
            columns = [k for k, v in values.items() if row[k] != v]  # of the customer row
            current_extras = await extra_phones_of(customer_id)
            main: str | None = values.get("phone", row["phone"])
            if extras is not None and main in extras:
                raise Invalid({f"extra_phones[{extras.index(main)}]": "this is the main phone"})
            new_extras = [] if extras is None else [p for p in extras if p not in current_extras]
            extras_changed = extras is not None and sorted(extras) != current_extras
            changed = sorted(columns + (["extra_phones"] if extras_changed else []))
            if not changed:
                return []
            await _claim_phones(customer_id, ([values["phone"]] if "phone" in columns else []) + new_extras)
            personal = customer_columns(customer_id, **{k: values[k] for k in columns if k in PERSONAL_FIELDS})
            stored = {k: values[k] for k in columns if k not in PERSONAL_FIELDS} | personal
            updates: dict[Any, Any] = {getattr(Customer, k): v for k, v in stored.items()}
            if form is not None and "custom_fields" in changed:
                updates |= {Customer.custom_fields_form: form[0], Customer.custom_fields_form_version: form[1]}
            if "tier_override" in changed:
                tier = values["tier_override"] or row["earned_tier"]
                if tier != row["tier"]:
                    updates[Customer.tier] = tier
                    changed.append("tier")
            await Customer.update({**updates, Customer.updated_at: utc_now()}).where(Customer.id == customer_id)
            if extras is not None and extras_changed:
                await _store_extra_phones(customer_id, extras)
            await record_change(
                "customer.updated", subject(customer_id), {"customer_id": str(customer_id), "changed_fields": changed},
                actor=actor, changed_fields=changed,
            )
    except Exception as exc:
        if is_unique_violation(exc):  # the phone was taken between the check and the update
            raise Conflict("another customer has this phone number", code="phone_taken") from None
        raise
    return changed


async def _store_extra_phones(customer_id: UUID, phones: Sequence[str]) -> None:
    """Replace the customer's further phones with these (normalised, checked): those kept stay as they are."""
    rows = await CustomerPhone.select(CustomerPhone.id, CustomerPhone.phone).where(CustomerPhone.customer == customer_id)
    stored = {opened_phone(r): r["id"] for r in rows}
    gone = [row_id for phone, row_id in stored.items() if phone not in phones]
    if gone:
        await CustomerPhone.delete().where(CustomerPhone.id.is_in(gone))
    now = utc_now()
    new_ids = {phone: uuid4() for phone in phones if phone not in stored}
    await insert_many(CustomerPhone, [
        {"id": row_id, "customer": customer_id, **extra_phone_columns(row_id, phone), "created_at": now}
        for phone, row_id in new_ids.items()
    ])


def _validated(given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Normalised values of the given fields, and every problem by field."""
    values = dict(given)
    problems: dict[str, str] = {}
    if "name" in given:
        values["name"] = given["name"].strip()
        if not values["name"]:
            problems["name"] = "required"
    if "phone" in given:
        values["phone"] = normalise_phone(given["phone"])
        if values["phone"] is None:
            problems["phone"] = "not a valid phone number"
    if "extra_phones" in given:
        values["extra_phones"], extra_problems = _normalised_phones(given["extra_phones"])
        problems |= extra_problems
    if given.get("email") is not None:
        values["email"] = normalise_email(given["email"])
        if values["email"] is None:
            problems["email"] = "not a valid email address"
    for field in ("preferences", "custom_fields"):
        if field in given:
            problems |= map_problems(given[field], field)
    return values, problems


def _normalised_phones(raw: list[str]) -> tuple[list[str], dict[str, str]]:
    """Further phones normalised as the main one is, duplicates dropped, order kept; problems by place."""
    phones: list[str] = []
    problems: dict[str, str] = {}
    if len(raw) > MAX_EXTRA_PHONES:
        problems["extra_phones"] = f"at most {MAX_EXTRA_PHONES} further phones"
    for index, text in enumerate(raw):
        phone = normalise_phone(text)
        if phone is None:
            problems[f"extra_phones[{index}]"] = "not a valid phone number"
        elif phone not in phones:
            phones.append(phone)
    return phones, problems


# --- Tags -------------------------------------------------------------------------------------------------


def normalised_tags(raw: list[str], field: str = "tags") -> list[str]:
    """Each tag normalised, duplicates dropped, order kept; Invalid naming each bad one."""
    tags: list[str] = []
    problems = {}
    for index, text in enumerate(raw):
        tag = normalise_tag(text)
        if tag is None:
            problems[f"{field}[{index}]"] = TAG_RULE
        elif tag not in tags:
            tags.append(tag)
    if problems:
        raise Invalid(problems)
    return tags


async def add_tags(customer_id: UUID, raw: list[str], *, actor: Actor) -> list[str]:
    """Add tags (already there: nothing happens); returns the customer's tags. A customer has at most 30."""
    _check(actor, Permission.customers_write)
    wanted = normalised_tags(raw)
    async with write_transaction():
        await lock_customer(customer_id)
        await _require_unerased(customer_id)
        current = (await tags_of([customer_id]))[customer_id]
        new = [t for t in wanted if t not in current]
        if len(current) + len(new) > MAX_TAGS:
            raise Invalid({"tags": f"a customer has at most {MAX_TAGS} tags; this one has {len(current)}"}, code="too_many_tags")
        if new:
            now = utc_now()
            await CustomerTag.insert(*(CustomerTag(id=uuid4(), customer=customer_id, tag=t, created_at=now) for t in new))
            await _touched(customer_id, "customer.tagged", {"added": len(new)}, actor)
    return sorted(current + new)


async def remove_tag(customer_id: UUID, raw: str, *, actor: Actor) -> bool:
    """Take a tag off; False when the customer did not have it."""
    _check(actor, Permission.customers_write)
    [tag] = normalised_tags([raw], field="tag")
    async with write_transaction():
        if not await Customer.exists().where(Customer.id == customer_id):
            raise NotFound("no such customer")
        removed = await CustomerTag.delete().where((CustomerTag.customer == customer_id) & (CustomerTag.tag == tag)).returning(
            CustomerTag.id
        )
        if removed:
            await _touched(customer_id, "customer.untagged", {"removed": 1}, actor)
    return bool(removed)


async def _touched(customer_id: UUID, action: str, counts: dict[str, int], actor: Actor) -> None:
    """Audit a change of the customer's tags: which customer and how many tags, never which (a tag can
    say something personal, such as an allergy)."""
    await Customer.update({Customer.updated_at: utc_now()}).where(Customer.id == customer_id)
    await record_change(
        action, subject(customer_id), {"customer_id": str(customer_id), **counts}, actor=actor, changed_fields=["tags"],
        details=counts,
    )


# --- Notes ------------------------------------------------------------------------------------------------


async def add_note(customer_id: UUID, data: schemas.NoteCreate, *, actor: Actor) -> schemas.Note:
    """A staff note with its author and time."""
    _check(actor, Permission.customers_write)
    body = data.body.strip()
    if not body:
        raise Invalid({"body": "required"})
    async with write_transaction():
        await _require_unerased(customer_id)
        note_id = uuid4()
        note = CustomerNote(
            id=note_id, customer=customer_id, body=note_body(note_id, body), author_kind=actor.kind, author_id=actor.id,
            author_label=actor.label[:150], created_at=utc_now(),
        )
        await CustomerNote.insert(note)
        await record_change(
            "customer.note_added", subject(customer_id), {"customer_id": str(customer_id), "note_id": str(note.id)},
            actor=actor, changed_fields=["notes"], details={"note_id": str(note.id)},
        )
    return note_schema(note.to_dict())


# --- Erasure ----------------------------------------------------------------------------------------------

ERASED_NAME = "已删除"  # what an erased customer is called from then on


async def erase_customer(customer_id: UUID, reason: str, *, actor: Actor) -> datetime:
    """Erase the person's data (PIPL art. 47) by overwriting it, in one transaction, audited with the
    reason as `customer.erased`. The customer row stays, anonymous ("已删除", no phone (nor further ones), email, gender,
    birthday, preferences or custom fields; `erased_at` set), and so do their bookings (without form
    answers or booking notes) and the points ledger, for the accounts. Tags (they can say something
    personal, such as an allergy) are removed; note bodies, logged calls' and visits' notes and survey comments are emptied, the staff
    inbox messages about their bookings blanked, and the profile values of the merges they took part in.
    Duplicates merged into the customer (the same person under another id) are erased with it. Audit entries hold no personal data, so the audit log
    still verifies. Refused (409 erasure_refused, audited with why) while a booking is open, or when the
    customer was erased already.

    This is the one place that knows which columns hold personal data: field encryption changes it here."""
    _check(actor, Permission.customers_erase)
    reason = reason.strip()
    if len(reason) < 3:
        raise Invalid({"reason": "say which request this answers (e.g. its reference)"})
    refusal: tuple[str, str, dict[str, Any]] | None = None
    now = utc_now()
    async with write_transaction():
        await lock_customer(customer_id)
        row = await Customer.select(Customer.erased_at).where(Customer.id == customer_id).first()
        if row is None:
            raise NotFound("no such customer")
        # The same person's duplicates merged into this record are erased with it.
        ids = [customer_id, *(c for c in await records_of(customer_id) if c != customer_id)]
        their_bookings = Booking.select(Booking.id).where(Booking.customer.is_in(ids))
        open_bookings = await Booking.count().where(
            Booking.customer.is_in(ids) & Booking.status.is_in([s.value for s in OPEN])
        )
        if row["erased_at"] is not None:
            refusal = ("already_erased", "this customer's data was erased already", {})
        elif open_bookings:
            refusal = (
                "open_bookings",
                f"the customer has {open_bookings} open booking(s): complete, cancel or mark them first",
                {"open_bookings": open_bookings},
            )
        else:
            for record_id in ids:
                # Every sealed value overwritten, every blind index emptied (customer_columns with None).
                erased = customer_columns(record_id, **{k: None for k in PERSONAL_FIELDS}) | customer_columns(
                    record_id, name=ERASED_NAME
                )
                erased["name_bidx"] = None  # the placeholder name finds nobody: erased customers are not searchable
                await Customer.update({
                    **{getattr(Customer, k): v for k, v in erased.items()}, Customer.erased_at: now, Customer.updated_at: now,
                }).where(Customer.id == record_id)
            tags = await CustomerTag.delete().where(CustomerTag.customer.is_in(ids)).returning(CustomerTag.id)
            phones = await CustomerPhone.delete().where(CustomerPhone.customer.is_in(ids)).returning(CustomerPhone.id)
            await CustomerNote.update({CustomerNote.body: ""}).where(CustomerNote.customer.is_in(ids))
            await CustomerInteraction.update({CustomerInteraction.note: ""}).where(CustomerInteraction.customer.is_in(ids))
            bookings = await Booking.update({Booking.answers: "", Booking.notes: "", Booking.updated_at: now}).where(
                Booking.customer.is_in(ids)
            ).returning(Booking.id)
            await SurveyAnswer.update({SurveyAnswer.comment: ""}).where(SurveyAnswer.booking.is_in(their_bookings))
            await InboxItem.update({InboxItem.subject: ERASED_NAME, InboxItem.body: ""}).where(
                InboxItem.booking.is_in(their_bookings)
            )
            # The profile values merges copied or kept (the same person's, under either id).
            await CustomerMerge.update({CustomerMerge.profile: ""}).where(
                CustomerMerge.survivor.is_in(ids) | CustomerMerge.duplicate.is_in(ids)
            )
            counts = {
                "bookings_kept": len(bookings), "tags_removed": len(tags), "extra_phones_removed": len(phones),
                "merged_records_erased": len(ids) - 1,
            }
            await record_change(
                "customer.erased", subject(customer_id), {"customer_id": str(customer_id)}, actor=actor,
                reason=reason[:500], details=counts,
                changed_fields=[
                    "name", "phone", "extra_phones", "email", "gender", "birthday", "preferences", "custom_fields", "tags",
                    "notes", "interactions", "booking_answers", "booking_notes", "survey_comments", "merge_profiles", "erased_at",
                ],
            )
    if refusal is not None:
        code, detail, facts = refusal
        async with write_transaction():
            await add_audit_entry(
                "customer.erasure_refused", actor=actor, target=subject(customer_id), result="denied",
                reason=reason[:500], details={"refusal": code, **facts},
            )
        raise Conflict(detail, code="erasure_refused", extra={"refusal": code})
    return now


# --- Consent ----------------------------------------------------------------------------------------------


async def set_consent(
    customer_id: UUID, choices: Mapping[str, bool], *, source: str, actor: Actor
) -> dict[str, bool]:
    """Record the customer's choices (purpose → agreed); returns those that changed. Staff need
    customers.write; a customer may change their own (the unsubscribe link). Audited with the purposes
    and choices, which say nothing about who the customer is."""
    if not (actor.kind == "customer" and actor.id == str(customer_id)):
        _check(actor, Permission.customers_write)
        # As the opt-out routes: staff change the consent of customers who booked in their branches.
        await check_customer_in_reach(customer_id, actor=actor, permission=Permission.customers_write)
    if problems := {f"consent.{p}": f"one of: {', '.join(CONSENT_PURPOSES)}" for p in choices if p not in CONSENT_PURPOSES}:
        raise Invalid(problems)
    changed: dict[str, bool] = {}
    async with write_transaction():
        await lock_customer(customer_id)
        if not await Customer.exists().where(Customer.id == customer_id):
            raise NotFound("no such customer")
        current = {
            r["purpose"]: r["granted"]
            for r in await CustomerConsent.select(CustomerConsent.purpose, CustomerConsent.granted).where(
                CustomerConsent.customer == customer_id
            )
        }
        now = utc_now()
        for purpose, granted in choices.items():
            if purpose in current and bool(current[purpose]) == granted:
                continue
            await store_choice(customer_id, purpose, granted, source)
            changed[purpose] = granted
        if changed:
            await Customer.update({Customer.updated_at: now}).where(Customer.id == customer_id)
            await record_change(
                "customer.consent_changed", subject(customer_id),
                {"customer_id": str(customer_id), "consent": changed, "source": source},
                actor=actor, changed_fields=["consent"], details={"consent": changed, "source": source},
            )
    return changed


async def store_choice(customer_id: UUID, purpose: str, granted: bool | None, source: str) -> None:
    """Write one choice as given (None: no choice recorded), joining the caller's transaction; the caller
    checks and audits."""
    where = (CustomerConsent.customer == customer_id) & (CustomerConsent.purpose == purpose)
    if granted is None:
        await CustomerConsent.delete().where(where)
    elif await CustomerConsent.exists().where(where):
        await CustomerConsent.update({
            CustomerConsent.granted: granted, CustomerConsent.source: source, CustomerConsent.changed_at: utc_now(),
        }).where(where)
    else:
        await CustomerConsent.insert(CustomerConsent(
            id=uuid4(), customer=customer_id, purpose=purpose, granted=granted, source=source,
            name=f"{customer_id}:{purpose}", changed_at=utc_now(),
        ))


# --- The communication log -----------------------------------------------------------------------------

CLOCK_SKEW = timedelta(minutes=5)  # a device a little ahead of the server may still log "now"


async def log_interaction(customer_id: UUID, data: schemas.InteractionCreate, *, actor: Actor) -> schemas.CommunicationEntry:
    """A call, visit or message staff logged, with its author and when it happened (default now)."""
    _check(actor, Permission.customers_write)
    now = utc_now()
    if data.at is not None and data.at.tzinfo is None:
        raise Invalid({"at": "needs a UTC offset, e.g. 2026-12-24T10:00:00+08:00"})
    if data.at is not None and data.at > now + CLOCK_SKEW:
        raise Invalid({"at": "not in the future"})
    async with write_transaction():
        if not await Customer.exists().where(Customer.id == customer_id):
            raise NotFound("no such customer")
        interaction_id = uuid4()
        row = CustomerInteraction(
            id=interaction_id, customer=customer_id, kind=data.kind, note=interaction_note(interaction_id, data.note.strip()),
            at=data.at or now,
            author_kind=actor.kind, author_id=actor.id, author_label=actor.label[:150], created_at=now,
        )
        await CustomerInteraction.insert(row)
        await record_change(
            "customer.interaction_logged", subject(customer_id),
            {"customer_id": str(customer_id), "interaction_id": str(row.id), "kind": data.kind},
            actor=actor, changed_fields=["interactions"], details={"interaction_id": str(row.id), "kind": data.kind},
        )
    return interaction_entry(row.to_dict())


# --- Imports ----------------------------------------------------------------------------------------------

# Blank fields of an existing customer that an imported row fills; nothing staff entered is overwritten.
_FILLABLE = ("email", "gender", "birthday", "source_channel")


async def import_customers(
    batch: Sequence[schemas.ImportedCustomer], *, actor: Actor
) -> schemas.ImportedCustomers:
    """Write a batch of checked import rows in the caller's transaction, a few statements per batch.

    A row is the customer with its phone, else (when it has no phone or that customer has none) the one
    with its email; else a new customer. New customers get every column of the row: tier (as an
    override), points (an opening balance, `import:<customer>`), a note. Existing customers only get what
    they lack: blank email, gender, birthday and source channel are filled (a phone too, matched by
    email), tags are added up to the limit; name, phone, tier, points and notes are never changed. So a
    second import of the same rows changes nothing. A phone or email of a customer merged into another
    finds the survivor, which gets what it lacks; the merged one is never written. Rows are not audited one by one: the import run
    audits itself once, with counts (`imports.actions`)."""
    _check(actor, Permission.customers_write)
    if not batch:
        return schemas.ImportedCustomers(ids={})
    async with write_transaction():
        # The batch's phones locked first, as every change that gives a customer a phone does: a further phone
        # added meanwhile is either committed before the lookup below or waits for this import.
        await lock_phones([r.phone for r in batch if r.phone])
        by_phone, by_email = await find_customers_by_contacts(
            [r.phone for r in batch if r.phone], [r.email for r in batch if r.email]
        )
        # Matched to a customer merged away, a row goes to the survivor (the lookup follows merges).
        matched: dict[int, UUID] = {}
        by_mail: set[int] = set()  # rows matched by email only
        for r in batch:
            if r.phone and r.phone in by_phone:
                matched[r.row] = by_phone[r.phone]
            elif r.email and r.email in by_email:
                matched[r.row] = by_email[r.email]
                by_mail.add(r.row)
        existing = {
            row["id"]: opened_customer(row) for row in await Customer.select(
                Customer.id, Customer.phone, *(getattr(Customer, f) for f in _FILLABLE)
            ).where(Customer.id.is_in(list(set(matched.values())) or [uuid4()]))
        }
        # A match by email with another phone on file is another person who shares an address. (A match by
        # phone may show another phone: the survivor's, when the row's is that of a customer merged into it.)
        for r in batch:
            if r.row in by_mail and r.phone and existing[matched[r.row]]["phone"] not in (None, r.phone):
                del matched[r.row]
        outcome = schemas.ImportedCustomers(ids=dict(matched))
        now = utc_now()
        current_tags = await tags_of(list(existing))
        new_tags: list[dict[str, Any]] = []
        touched: set[UUID] = set()
        for r in batch:
            customer_id = matched.get(r.row)
            if customer_id is None:
                continue
            row = existing[customer_id]
            fills = {f: getattr(r, f) for f in _FILLABLE if getattr(r, f) not in (None, "") and row[f] in (None, "")}
            if r.phone and row["phone"] is None and r.row in by_mail:  # matched by phone: another holds it
                fills["phone"] = r.phone
            tags = current_tags[customer_id]
            added = [t for t in r.tags if t not in tags][: max(MAX_TAGS - len(tags), 0)]
            tags.extend(added)
            new_tags.extend({"id": uuid4(), "customer": customer_id, "tag": t, "created_at": now} for t in added)
            if fills:
                row.update(fills)  # a later row of the batch for the same customer sees them
                stored = {k: v for k, v in fills.items() if k not in PERSONAL_FIELDS} | customer_columns(
                    customer_id, **{k: v for k, v in fills.items() if k in PERSONAL_FIELDS}
                )
                await Customer.update({**{getattr(Customer, k): v for k, v in stored.items()}, Customer.updated_at: now}).where(
                    Customer.id == customer_id
                )
            if fills or added:
                touched.add(customer_id)
        outcome.updated = len(touched)
        outcome.unchanged = len(set(matched.values()) - touched)
        created = await _insert_imported([r for r in batch if r.row not in matched], now=now, actor=actor)
        outcome.ids |= {row: customer_id for row, customer_id in created.items()}
        outcome.created = len(created)
        await insert_many(CustomerTag, new_tags)
    return outcome


async def _insert_imported(rows: Sequence[schemas.ImportedCustomer], *, now: datetime, actor: Actor) -> dict[int, UUID]:
    """Insert new customers with their tags, opening points balance and note, a statement per table; their
    ids by row."""
    if not rows:
        return {}
    programme = await get_programme()
    ids = {r.row: uuid4() for r in rows}
    base_tier = earned_tier(programme.tiers, 0, 0)
    await insert_many(Customer, [
        {
            "id": ids[r.row],
            **customer_columns(ids[r.row], name=r.name, phone=r.phone, email=r.email, gender=r.gender, birthday=r.birthday),
            "preferences": "", "custom_fields": "", "source_channel": r.source_channel, "tier": r.tier or base_tier,
            "earned_tier": base_tier, "tier_override": r.tier, "created_at": now, "updated_at": now,
        }
        for r in rows
    ])
    await insert_many(CustomerTag, [
        {"id": uuid4(), "customer": ids[r.row], "tag": t, "created_at": now} for r in rows for t in r.tags[:MAX_TAGS]
    ])
    expires = add_months(now, programme.expiry_months) if programme.expiry_months else None
    await insert_many(PointsEntry, [
        {
            "id": uuid4(), "customer": ids[r.row], "kind": "adjust", "points": r.points, "remaining": r.points,
            "expires_at": expires, "balance_after": r.points, "booking": None, "reason": "imported opening balance",
            "key": f"import:{ids[r.row]}", "actor_label": actor.label[:150], "created_at": now,
        }
        for r in rows if r.points
    ])
    note_ids = {r.row: uuid4() for r in rows if r.note}
    await insert_many(CustomerNote, [
        {
            "id": note_ids[r.row], "customer": ids[r.row], "body": note_body(note_ids[r.row], r.note), "author_kind": actor.kind, "author_id": actor.id,
            "author_label": actor.label[:150], "created_at": now,
        }
        for r in rows if r.note
    ])
    return ids
