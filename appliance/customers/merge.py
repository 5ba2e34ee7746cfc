"""Merging a duplicate customer into another, and undoing it: the only code that moves a customer's
records to another customer.

A merge moves the duplicate's bookings, points ledger, notes, logged interactions and messages sent to the
survivor, adds the duplicate's tags the survivor lacks, combines consent (a refusal wins), copies the
profile fields the survivor lacks (`customers.combine`; where both have a value the survivor's wins and
the other is kept in the record), recomputes both customers' facts and tiers, and marks the duplicate
`merged_into` the survivor (kept, hidden from the list; bookings made with its phone go to the
survivor). A `customer_merge` row lists every id moved, every choice changed and every value copied
(sealed), so `undo_merge` can put them back. Audited, with a `customer.merged` event."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Conflict, Forbidden, Invalid, NotFound
from appliance.customers import combine, schemas
from appliance.customers.actions import lock_customer, store_choice, subject
from appliance.customers.facts import refresh_facts
from appliance.customers.logic import MAX_TAGS, most_restrictive
from appliance.customers.loyalty import SYSTEM, refresh_tiers
from appliance.customers.queries import get_merge, get_programme, tags_of
from appliance.customers.sealing import PERSONAL_FIELDS, customer_columns, merge_profile, opened_customer
from appliance.customers.tables import (
    Customer, CustomerConsent, CustomerInteraction, CustomerMerge, CustomerNote, CustomerTag, PointsEntry,
)
from appliance.notifications.tables import Message

# The tables whose rows a merge moves, by the name MergeMoved lists their ids under.
MOVED: dict[str, Any] = {
    "bookings": Booking, "points": PointsEntry, "notes": CustomerNote, "interactions": CustomerInteraction,
    "messages": Message,
}


def _check(actor: Actor) -> None:
    if not actor.can(Permission.customers_write):
        raise Forbidden(f"this needs the permission {Permission.customers_write.value}")


async def _lock_both(first: UUID, second: UUID) -> None:
    for customer_id in sorted((first, second)):  # one order everywhere: no deadlock between two merges
        await lock_customer(customer_id)


async def _merged_into(customer_id: UUID) -> UUID | None:
    row = await Customer.select(Customer.merged_into).where(Customer.id == customer_id).first()
    if row is None:
        raise NotFound("no such customer")
    merged: UUID | None = row["merged_into"]
    return merged


async def _consent(customer_id: UUID) -> dict[str, bool]:
    rows = await CustomerConsent.select(CustomerConsent.purpose, CustomerConsent.granted).where(
        CustomerConsent.customer == customer_id
    )
    return {r["purpose"]: bool(r["granted"]) for r in rows}


async def _profile(customer_id: UUID) -> dict[str, Any]:
    """The fields a merge combines, opened, and when the customer's data was erased."""
    row = await Customer.select(
        Customer.id, Customer.erased_at, *(getattr(Customer, f) for f in combine.FIELDS)
    ).where(Customer.id == customer_id).first()
    if row is None:
        raise NotFound("no such customer")
    return opened_customer(row)


async def _combined(survivor_id: UUID, duplicate_id: UUID) -> tuple[dict[str, Any], combine.Combined]:
    """The survivor's profile and what the merge combines into it. Nothing when either was erased: an
    erased record gets no personal data back, and an erased one's placeholders are not values."""
    kept, theirs = await _profile(survivor_id), await _profile(duplicate_id)
    if kept["erased_at"] is not None or theirs["erased_at"] is not None:
        return kept, combine.Combined()
    return kept, combine.combine(kept, theirs)


async def _form_ref(customer_id: UUID) -> tuple[UUID | None, int | None]:
    """The profile form (and its version) the customer's custom fields were answered under."""
    row = await Customer.select(Customer.custom_fields_form, Customer.custom_fields_form_version).where(
        Customer.id == customer_id
    ).first()
    return (row["custom_fields_form"], row["custom_fields_form_version"]) if row else (None, None)


async def _set_form_ref(customer_id: UUID, form: tuple[UUID | None, int | None]) -> None:
    await Customer.update({Customer.custom_fields_form: form[0], Customer.custom_fields_form_version: form[1]}).where(
        Customer.id == customer_id
    )


async def _store_profile(customer_id: UUID, values: dict[str, Any], now: datetime) -> None:
    """Write profile fields of one customer: personal ones sealed (with their blind indexes)."""
    personal = customer_columns(customer_id, **{k: v for k, v in values.items() if k in PERSONAL_FIELDS})
    plain = {k: v or "" for k, v in values.items() if k not in PERSONAL_FIELDS}  # source_channel: "" is none
    await Customer.update({
        **{getattr(Customer, k): v for k, v in (personal | plain).items()}, Customer.updated_at: now,
    }).where(Customer.id == customer_id)


def _filled_names(filled: dict[str, Any]) -> list[str]:
    """Field names, and map entries as field.key: what the audit and the plain record may say."""
    return sorted(
        f"{name}.{key}" for name in combine.MAPS for key in filled.get(name, {})
    ) + [name for name in combine.SCALARS if name in filled]


async def _audit(
    action: str, survivor_id: UUID, duplicate_id: UUID, merge_id: UUID, counts: dict[str, dict[str, int]], actor: Actor
) -> None:
    """Audited on the survivor with ids and counts only (an event of the same type goes to the outbox)."""
    details = {"duplicate_id": str(duplicate_id), "merge_id": str(merge_id), **counts}
    await record_change(
        action, subject(survivor_id), {"customer_id": str(survivor_id), **details}, actor=actor,
        changed_fields=["bookings", "points", "notes", "interactions", "tags", "consent", "profile"], details=details,
    )


async def _refresh(customer_ids: list[UUID]) -> None:
    await refresh_facts(customer_ids)
    await refresh_tiers(customer_ids, programme=await get_programme(), actor=SYSTEM)


async def preview_merge(survivor_id: UUID, duplicate_id: UUID) -> schemas.MergePreview:
    """What merging the duplicate into the survivor would move now, counted (nothing is changed)."""
    if survivor_id == duplicate_id:
        raise Invalid({"duplicate_id": "a customer cannot be merged into itself"}, code="merge_into_itself")
    for customer_id in (survivor_id, duplicate_id):
        await _merged_into(customer_id)  # NotFound for a made-up id
    counts = {name: int(await table.count().where(table.customer == duplicate_id)) for name, table in MOVED.items()}
    tags = await tags_of([survivor_id, duplicate_id])
    room = max(MAX_TAGS - len(tags[survivor_id]), 0)
    _, combined = await _combined(survivor_id, duplicate_id)
    return schemas.MergePreview(
        **counts, tags_added=[t for t in tags[duplicate_id] if t not in tags[survivor_id]][:room],
        profile=schemas.MergeProfile(filled=combined.filled, conflicts=combined.conflicts),
    )


async def merge_customers(survivor_id: UUID, duplicate_id: UUID, *, actor: Actor) -> schemas.CustomerMerge:
    """Merge the duplicate into the survivor. Into itself: 422; either already merged: 409 customer_merged."""
    _check(actor)
    if survivor_id == duplicate_id:
        raise Invalid({"duplicate_id": "a customer cannot be merged into itself"}, code="merge_into_itself")
    merge_id = uuid4()
    async with write_transaction():
        await _lock_both(survivor_id, duplicate_id)
        for customer_id, role in ((survivor_id, "survivor"), (duplicate_id, "duplicate")):
            if await _merged_into(customer_id) is not None:
                raise Conflict(f"the {role} was merged into another customer already", code="customer_merged")
        moved: dict[str, Any] = {}
        for name, table in MOVED.items():
            rows = await table.select(table.id).where(table.customer == duplicate_id).order_by(table.id)
            moved[name] = [r["id"] for r in rows]
            if moved[name]:
                await table.update({table.customer: survivor_id}).where(table.id.is_in(moved[name]))
        tags = await tags_of([survivor_id, duplicate_id])
        room = MAX_TAGS - len(tags[survivor_id])
        moved["tags_added"] = [t for t in tags[duplicate_id] if t not in tags[survivor_id]][:max(room, 0)]
        now = utc_now()
        if moved["tags_added"]:
            await CustomerTag.insert(*(
                CustomerTag(id=uuid4(), customer=survivor_id, tag=t, created_at=now) for t in moved["tags_added"]
            ))
        kept, theirs = await _consent(survivor_id), await _consent(duplicate_id)
        moved["consent_before"] = {}
        for purpose in sorted(set(kept) | set(theirs)):
            combined = most_restrictive(kept.get(purpose), theirs.get(purpose))
            if combined != kept.get(purpose):
                moved["consent_before"][purpose] = kept.get(purpose)
                await store_choice(survivor_id, purpose, combined, "merge")
        survivor_profile, profile = await _combined(survivor_id, duplicate_id)
        moved["fields_filled"] = _filled_names(profile.filled)
        # Custom fields copied to a survivor that had none keep the definition they were answered under.
        if "custom_fields" in profile.filled and (await _form_ref(survivor_id))[0] is None:
            if (theirs_form := await _form_ref(duplicate_id))[0] is not None:
                await _set_form_ref(survivor_id, theirs_form)
                moved["form_taken"] = True
        record = schemas.MergeMoved(**moved)
        await Customer.update({Customer.merged_into: survivor_id, Customer.updated_at: now}).where(Customer.id == duplicate_id)
        await _store_profile(survivor_id, combine.with_filled(survivor_profile, profile.filled), now)
        await _refresh([survivor_id, duplicate_id])
        await CustomerMerge.insert(CustomerMerge(
            id=merge_id, survivor=survivor_id, duplicate=duplicate_id, moved=msgspec.to_builtins(record),
            profile=merge_profile(merge_id, {"filled": profile.filled, "conflicts": profile.conflicts}),
            merged_by=actor.label[:150], merged_at=now,
        ))
        counts = {name: len(getattr(record, name)) for name in (*MOVED, "tags_added", "fields_filled")}
        await _audit("customer.merged", survivor_id, duplicate_id, merge_id, {"moved": counts}, actor)
    return await get_merge(merge_id)


async def undo_merge(merge_id: UUID, *, actor: Actor) -> schemas.CustomerMerge:
    """Put back what the merge moved (what is still on the survivor), take off the tags it added, restore
    the survivor's consent as it was, blank the profile values it copied (those nobody changed since), and
    show the duplicate again. Undone already: 409 merge_undone; a survivor merged since into a third
    customer: 409 customer_merged (undo that one first)."""
    _check(actor)
    merge = await get_merge(merge_id)
    survivor_id, duplicate_id = merge.survivor_id, merge.duplicate_id
    async with write_transaction():
        await _lock_both(survivor_id, duplicate_id)
        row = await CustomerMerge.select(CustomerMerge.undone_at).where(CustomerMerge.id == merge_id).first()
        if row is None:
            raise NotFound("no such merge")
        if row["undone_at"] is not None:
            raise Conflict("this merge was undone already", code="merge_undone")
        if await _merged_into(survivor_id) is not None:
            raise Conflict("the survivor was merged into another customer since: undo that first", code="customer_merged")
        if await _merged_into(duplicate_id) != survivor_id:
            raise Conflict("the duplicate is no longer merged into the survivor", code="merge_undone")
        counts: dict[str, int] = {}
        for name, table in MOVED.items():
            ids = getattr(merge.moved, name)
            back: list[dict[str, Any]] = []
            if ids:  # only what is still on the survivor
                back = await table.update({table.customer: duplicate_id}).where(
                    table.id.is_in(ids) & (table.customer == survivor_id)
                ).returning(table.id)
            counts[name] = len(back)
        if merge.moved.tags_added:
            await CustomerTag.delete().where(
                (CustomerTag.customer == survivor_id) & CustomerTag.tag.is_in(merge.moved.tags_added)
            )
        for purpose, granted in merge.moved.consent_before.items():
            await store_choice(survivor_id, purpose, granted, "merge")
        now = utc_now()
        await Customer.update({Customer.merged_into: None, Customer.updated_at: now}).where(Customer.id == duplicate_id)
        restored = combine.without_filled(await _profile(survivor_id), merge.profile.filled)
        await _store_profile(survivor_id, restored, now)
        if merge.moved.form_taken and "custom_fields" in restored and not restored["custom_fields"]:
            await _set_form_ref(survivor_id, (None, None))  # no custom fields left: no form they answer
        counts["fields_restored"] = len(restored)
        await _refresh([survivor_id, duplicate_id])
        await CustomerMerge.update({CustomerMerge.undone_at: now}).where(CustomerMerge.id == merge_id)
        await _audit("customer.merge_undone", survivor_id, duplicate_id, merge_id, {"moved_back": counts}, actor)
    return await get_merge(merge_id)
