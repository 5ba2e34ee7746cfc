"""The only code that writes the demo business: one transaction, batched inserts, one audit entry."""

from __future__ import annotations

import asyncio
import secrets
from functools import partial
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import msgspec
from piccolo.custom_types import Combinable
from piccolo.table import Table

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.credentials import digest
from appliance.bookings.tables import Allocation, Booking, IdempotencyRecord
from appliance.catalog.tables import Branch, Resource, Service, TimeOff
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Conflict, Forbidden
from appliance.customers.facts import refresh_facts
from appliance.bookings.sealing import sealed_notes
from appliance.customers.sealing import customer_columns, note_body
from appliance.customers.loyalty import SYSTEM as LOYALTY, refresh_tiers
from appliance.customers.queries import get_programme
from appliance.customers.schemas import LoyaltyProgramme
from appliance.customers.tables import (
    Customer, CustomerConsent, CustomerInteraction, CustomerMerge, CustomerNote, CustomerPhone, CustomerTag, PointsEntry,
)
from appliance.demo import data
from appliance.demo.logic import DEMO_BRANCH_IDS, PROFILE_FORM_ID, BranchRow, DemoPlan, build_plan, local_today
from appliance.demo.schemas import DemoSummary
from appliance.events.envelope import Subject
from appliance.events.tables import Timer
from appliance.forms.queries import CUSTOMERS, FormRef, current_form
from appliance.forms.tables import Form, FormVersion
from appliance.notifications.tables import InboxItem, Message
from appliance.automation.tables import RuleRun
from appliance.reports.rollup import rebuild as rebuild_rollups

# Rows per INSERT: a booking row binds 17 values, so a chunk stays far below the 32,766 values a statement
# may bind on either engine.
CHUNK = 500

# What a reset removes, children first, by the name the summary gives it, with the rows of tables that
# also hold other things: every row pointing at a booking or customer goes with them (rows a foreign key
# cascades to as well, so that the summary counts them). Users, grants on the demo branches, sessions,
# API tokens, the audit log and the outbox stay; the report rollups are rebuilt.
BUSINESS_TABLES: tuple[tuple[str, type[Table], Combinable | None], ...] = (
    ("messages", Message, Message.customer.is_not_null() | Message.booking.is_not_null()),
    ("inbox_items", InboxItem, InboxItem.booking.is_not_null()),
    ("rule_runs", RuleRun, RuleRun.booking.is_not_null()),
    ("timers", Timer, Timer.subject_type.is_in(["booking", "customer"])),
    ("allocations", Allocation, None), ("bookings", Booking, None), ("idempotency_records", IdempotencyRecord, None),
    ("customer_merges", CustomerMerge, None), ("customer_consent", CustomerConsent, None),
    ("customer_interactions", CustomerInteraction, None), ("customer_tags", CustomerTag, None),
    ("customer_notes", CustomerNote, None), ("customer_phones", CustomerPhone, None), ("points_entries", PointsEntry, None),
    ("customers", Customer, None),
    # The booking questions of the services it deletes (the customers' profile form stays).
    ("service_form_versions", FormVersion, FormVersion.form.is_in(Form.select(Form.id).where(Form.target == "service"))),
    ("service_forms", Form, Form.target == "service"),
    ("time_off", TimeOff, None), ("services", Service, None), ("resources", Resource, None), ("branches", Branch, None),
)


class DemoExists(Conflict):
    code = "demo_exists"


async def seed_demo(*, actor: Actor, today: date | None = None, reset: bool = False) -> DemoSummary:
    """Seed the demo business around `today` (default: today in Shanghai), in one transaction.

    Refused while any branch exists, unless `reset`: then every booking, customer and catalogue row is
    deleted first, in the same transaction (the demo's two branches are updated in place, keeping staff
    roles granted in them). The seeded rows emit no events of their own (nobody is to be told of 6,000
    bookings); one audit entry and one event, `demo.seeded` or `demo.reset`, carry counts only.
    """
    if not actor.superuser:
        raise Forbidden("only the system or the host's administrator may seed the demo")
    if not reset:
        await _refuse_if_branches_exist()
    now = utc_now()
    # Seconds of CPU work: done before the write lock is taken, and off the event loop.
    programme = await get_programme()
    plan = await asyncio.to_thread(partial(build_plan, today or local_today(now), now, programme=programme))
    async with write_transaction():
        deleted = await _delete_business_rows() if reset else None
        if not reset:
            await _refuse_if_branches_exist()
        await _write(plan, kept_branches=await _existing_demo_branches() if reset else set(), programme=programme)
        await rebuild_rollups()  # every branch: a reset leaves none of the old bookings behind
        summary = DemoSummary(
            counts=plan.counts(), bookings_by_status=plan.bookings_by_status(), first_day=plan.first_day,
            last_day=plan.last_day, today=plan.today, timezone=data.TIMEZONE, deleted=deleted,
        )
        details = msgspec.to_builtins(summary)
        if deleted is None:
            del details["deleted"]
        await record_change(
            "demo.reset" if reset else "demo.seeded", Subject("demo", "demo"), details, actor=actor,
            changed_fields=sorted(summary.counts), details=details,
        )
    return summary


async def _refuse_if_branches_exist() -> None:
    if branches := await Branch.count():
        raise DemoExists(
            f"the database already has {branches} branch{'es' if branches != 1 else ''}; "
            "`appliance demo --reset` deletes every branch, service, customer and booking and seeds the demo again",
        )


async def _existing_demo_branches() -> set[UUID]:
    return {r["id"] for r in await Branch.select(Branch.id).where(Branch.id.is_in(list(DEMO_BRANCH_IDS)))}


async def _delete_business_rows() -> dict[str, int]:
    """Delete the business rows (counting them first); the demo's own branches are kept, to be updated in
    place, so that staff accounts' roles in them survive a reset."""
    deleted: dict[str, int] = {}
    for name, table, rows in BUSINESS_TABLES:
        deleted[name] = await (table.count() if rows is None else table.count().where(rows))
        if table is Branch:
            await Branch.delete().where(Branch.id.not_in(list(DEMO_BRANCH_IDS)))
        elif rows is not None:
            await table.delete().where(rows)
        else:
            await table.delete(force=True)
    return deleted


def _chunks(rows: Sequence[Table]) -> Iterable[Sequence[Table]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start:start + CHUNK]


async def _profile_form() -> FormRef | None:
    """The customers' profile form the demo's custom fields answer, so the admin's customer page shows
    them: the demo's own, made (or attached again after a reset) when customers have none. A form staff
    made stays current; the demo's fields then carry no form, like fields written before there was one."""
    current = await current_form(CUSTOMERS)
    if current is not None:
        return current if current.id == PROFILE_FORM_ID else None
    now = utc_now()
    kept = await Form.select(Form.version).where(Form.id == PROFILE_FORM_ID).first()  # archived since
    if kept is not None:
        await Form.update({Form.attached_to: CUSTOMERS, Form.active: True, Form.updated_at: now}).where(
            Form.id == PROFILE_FORM_ID
        )
        return FormRef(PROFILE_FORM_ID, kept["version"])
    await Form.insert(Form(
        id=PROFILE_FORM_ID, target=CUSTOMERS, attached_to=CUSTOMERS, service=None, branch=None,
        name=data.PROFILE_FORM_NAME, version=1, active=True, created_at=now, updated_at=now,
    ))
    await FormVersion.insert(FormVersion(
        id=uuid4(), form=PROFILE_FORM_ID, form_version=f"{PROFILE_FORM_ID}:1", version=1,
        fields=list(data.PROFILE_FIELDS), created_at=now,
    ))
    return FormRef(PROFILE_FORM_ID, 1)


async def _insert(table: type[Table], rows: Sequence[Table]) -> None:
    for chunk in _chunks(rows):
        await table.insert(*chunk)


def _branch_values(row: BranchRow) -> dict[str, Any]:
    return {
        "name": row.name, "timezone": row.timezone, "address": row.address, "active": True,
        "opening_hours": msgspec.to_builtins(row.opening_hours),
    }


async def _write(plan: DemoPlan, *, kept_branches: set[UUID], programme: LoyaltyProgramme) -> None:
    now = utc_now()
    for branch in plan.branches:
        values = _branch_values(branch)
        if branch.id in kept_branches:
            await Branch.update({getattr(Branch, k): v for k, v in values.items()} | {Branch.updated_at: now}).where(
                Branch.id == branch.id
            )
    await _insert(Branch, [
        Branch(id=b.id, **_branch_values(b), created_at=now, updated_at=now)
        for b in plan.branches if b.id not in kept_branches
    ])
    await _insert(Resource, [
        Resource(
            id=r.id, branch=r.branch_id, kind=r.kind, name=r.name, skills=list(r.skills), capacity=r.capacity,
            active=True, user=None, post_use_lock_minutes=r.post_use_lock_minutes,
            schedule=msgspec.to_builtins(r.schedule), created_at=now, updated_at=now,
        )
        for r in plan.resources
    ])
    await _insert(TimeOff, [
        TimeOff(id=t.id, resource=t.resource_id, starts_at=t.starts_at, ends_at=t.ends_at, reason=t.reason, created_at=now)
        for t in plan.time_off
    ])
    await _insert(Service, [
        Service(
            id=s.id, branch=s.branch_id, name=s.spec.name, description=s.spec.description,
            duration_minutes=s.spec.duration_minutes, buffer_before_minutes=s.spec.buffer_before_minutes,
            buffer_after_minutes=s.spec.buffer_after_minutes, price_amount=s.spec.price_fen, price_currency=data.CURRENCY,
            seats=s.spec.seats, requirements=msgspec.to_builtins(s.spec.requirements),
            slot_step_minutes=s.spec.slot_step_minutes, min_notice_minutes=s.spec.min_notice_minutes,
            max_advance_days=s.spec.max_advance_days, channels=list(s.spec.channels),
            customer_picks_staff=s.spec.customer_picks_staff, requires_approval=s.spec.requires_approval,
            active=True, created_at=now, updated_at=now,
        )
        for s in plan.services
    ])
    form = await _profile_form()
    await _insert(Customer, [
        Customer(
            id=c.id, **customer_columns(
                c.id, name=c.name, phone=c.phone, email=c.email, gender=c.gender, birthday=c.birthday,
                preferences=c.preferences, custom_fields=c.custom_fields,
            ),
            custom_fields_form=form.id if form and c.custom_fields else None,
            custom_fields_form_version=form.version if form and c.custom_fields else None,
            source_channel=c.source_channel, tier_override=c.tier_override, created_at=c.created_at, updated_at=c.created_at,
        )
        for c in plan.customers
    ])
    await _insert(CustomerTag, [
        CustomerTag(id=uuid4(), customer=c.id, tag=tag, created_at=c.created_at) for c in plan.customers for tag in c.tags
    ])
    await _insert(CustomerNote, [
        CustomerNote(
            id=n.id, customer=n.customer_id, body=note_body(n.id, n.body), author_kind="system", author_id=None, author_label="demo",
            created_at=n.created_at,
        )
        for n in plan.notes
    ])
    await _insert(PointsEntry, [
        PointsEntry(
            id=p.id, customer=p.customer_id, kind=p.kind, points=p.points, remaining=p.remaining, expires_at=p.expires_at,
            balance_after=p.balance_after, booking=p.booking_id, reason="", key=p.key, actor_label="demo",
            created_at=p.created_at,
        )
        for p in plan.points
    ])
    await _insert(Booking, [
        Booking(
            id=b.id, branch=b.branch_id, service=b.service_id, customer=b.customer_id, starts_at=b.starts_at,
            ends_at=b.ends_at, status=b.status.value, channel=b.channel, seats=1, price_amount=b.price_amount,
            price_currency=data.CURRENCY, payment_status=b.payment_status.value, answers="", notes=sealed_notes(b.id, b.notes),
            # A fresh secret per booking, never shown: the demo's customers cannot use their links.
            manage_token_hash=digest(secrets.token_urlsafe(24)), created_at=b.created_at, updated_at=b.updated_at,
        )
        for b in plan.bookings
    ])
    # Latest first: SQLite's overlap trigger scans a resource's allocations starting before the new one
    # ends, which in this order are only its neighbours (in time order it would be all earlier ones).
    await _insert(Allocation, [
        Allocation(
            id=uuid4(), booking=b.id, resource=h.resource_id, unit=h.unit, holder=b.holder, starts_at=h.starts_at,
            ends_at=h.ends_at, active=b.holding,
        )
        for b in reversed(plan.bookings)
        for h in b.holds
    ])
    # The customers' facts and tiers as the live listener keeps them, derived by the same code; no audit
    # line per customer (the run's own entry covers it).
    customer_ids = [c.id for c in plan.customers]
    await refresh_facts(customer_ids)
    await refresh_tiers(customer_ids, programme=programme, actor=LOYALTY, audit_each=False)
