"""The only code that writes bookings and allocations: create, transitions, reschedule, self-service."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
from piccolo.columns import Column

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.credentials import digest
from appliance.auth.roles import Permission
from appliance.bookings import schemas
from appliance.bookings.idempotency import IdempotencyKey, find_replay, remember_response
from appliance.bookings.sealing import sealed_answers, sealed_notes
from appliance.bookings.logic import (
    ResourceCalendar, Slot, check_start, find_slots, holds_for, occurrence_holder, off_grid, step_through,
)
from appliance.bookings.queries import (
    ServiceContext, booking_schema, forget_service, get_booking_row, kinds_needed, load_calendars, load_calendars_at, load_service,
    remembered_is_current, remembered_service, resource_ids_of, start_window,
)
from appliance.bookings.states import HOLDING, RESCHEDULABLE, TRANSITIONS, PaymentStatus, Status, Transition, transition_problem
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.logic import MAX_PRICE_AMOUNT
from appliance.core.clock import check_in_reach, utc_now
from appliance.core.db import (
    insert_rows, is_overlap_violation, is_unique_violation, lock_for_transaction, write_transaction,
)
from appliance.core.errors import Conflict, Forbidden, Invalid, NotFound
from appliance.customers.actions import match_or_plan_customer, validated_contact
from appliance.customers.schemas import CustomerContact
from appliance.events.envelope import Subject
from appliance.forms.answers import check_booking_answers
from appliance.forms.schemas import Locale

MANAGE_PATH = "/portal/bookings/{token}"  # the manage page, web/portal.py
# A lost race (another booking took the picked resource between check and insert) is retried with
# fresh data, so a free alternative resource is still found; past this many, the slot is gone.
RACE_RETRIES = 4
ALTERNATIVES = 3


class SlotUnavailable(Conflict):
    code = "slot_unavailable"


@dataclass(frozen=True)
class NewBooking:
    """A create request, whoever made it (staff API, portal)."""

    service_id: UUID
    starts_at: datetime
    customer: CustomerContact
    channel: str
    resource_ids: tuple[UUID, ...] = ()
    answers: dict[str, Any] | None = None
    seats: int = 1
    notes: str = ""
    locale: Locale = "en"  # of the messages naming bad answers


def slot_out(slot: Slot, *, public: bool = False, picks_shown: bool = True) -> schemas.SlotOut:
    """A slot as the API gives it. The public never sees the explanation (it names staff and how busy each
    is), nor which resources a slot would use unless the service lets customers choose them."""
    return schemas.SlotOut(
        starts_at=slot.starts_at, ends_at=slot.ends_at,
        resource_ids=[p.resource_id for p in slot.picks] if picks_shown or not public else [],
        seats_left=slot.seats_left, explanation="" if public else slot.explanation,
    )


def public_slot_out(ctx: ServiceContext, slot: Slot) -> schemas.SlotOut:
    return slot_out(slot, public=True, picks_shown=ctx.customer_picks_staff)


def _check_start_time(ctx: ServiceContext, starts_at: datetime, now: datetime) -> None:
    rules = ctx.rules
    step_minutes = int(rules.step.total_seconds() // 60)
    if off_grid(rules, starts_at, tz=ctx.timezone):
        raise Invalid({"starts_at": f"not on this service's {step_minutes}-minute grid"}, code="off_grid")
    if starts_at < now:
        raise Invalid({"starts_at": "in the past"})
    if starts_at < now + rules.min_notice:
        minutes = int(rules.min_notice.total_seconds() // 60)
        raise Invalid({"starts_at": f"too soon: this service needs {minutes} minutes' notice"})
    if starts_at > now + rules.max_advance:
        raise Invalid({"starts_at": f"too far ahead: at most {rules.max_advance.days} days in advance"})


async def _alternatives(
    ctx: ServiceContext, wanted: datetime, required: Collection[UUID], seats: int, *, public: bool,
    exclude_booking: UUID | None,
) -> list[schemas.SlotOut]:
    """The free slots nearest to the one asked for, within a day either side; a booking being moved
    counts its own time as free."""
    calendars, seats_taken = await load_calendars(
        ctx.branch_id, wanted - timedelta(days=1), wanted + timedelta(days=1), kinds=kinds_needed(ctx.rules, required),
        exclude_booking=exclude_booking,
    )
    slots = find_slots(
        ctx.rules, calendars, tz=ctx.timezone, window_start=wanted - timedelta(days=1),
        window_end=wanted + timedelta(days=1), now=utc_now(), required=frozenset(required), seats_wanted=seats,
        seats_taken=seats_taken,
    )
    nearest = sorted(slots, key=lambda s: (abs((s.starts_at - wanted).total_seconds()), s.starts_at))
    return [public_slot_out(ctx, s) if public else slot_out(s) for s in nearest[:ALTERNATIVES]]


async def _unavailable(
    ctx: ServiceContext, wanted: datetime, required: Collection[UUID], seats: int, *, public: bool,
    exclude_booking: UUID | None = None,
) -> SlotUnavailable:
    alternatives = await _alternatives(ctx, wanted, required, seats, public=public, exclude_booking=exclude_booking)
    return SlotUnavailable(
        "that time is no longer available", extra={"alternatives": msgspec.to_builtins(alternatives)}
    )


class _StaleContext(Exception):
    """The remembered service context is not the catalog's any more: read it again and start over."""


async def _take_slot(
    ctx: ServiceContext, starts_at: datetime, required: Sequence[UUID], seats: int, *,
    exclude_booking: UUID | None = None, revision: str | None = None,
) -> tuple[Slot | None, list[ResourceCalendar]]:
    """Inside the write transaction: the slot at `starts_at` as the committed data has it now. A `revision`
    is the catalog's that a remembered `ctx` was read at: unless the calendar query sees the same one,
    `_StaleContext` is raised."""
    rules = ctx.rules
    if rules.seats > 1:
        # Seats are counted, not constrained: one counter per occurrence at a time.
        await lock_for_transaction(occurrence_holder(rules.id, starts_at))
    calendars, seats_taken, now_at = await load_calendars_at(
        ctx.branch_id, *start_window(rules, starts_at, ctx.timezone), margin=timedelta(0),
        exclude_booking=exclude_booking, kinds=kinds_needed(rules, required),
    )
    if revision is not None and now_at != revision:
        forget_service(rules.id)
        raise _StaleContext
    known = {c.id for c in calendars}
    for index, resource_id in enumerate(required):  # as the request lists them, so the field named is theirs
        if resource_id not in known:
            raise Invalid({f"resource_ids[{index}]": "no such active resource in this branch"})
    slot = check_start(
        rules, calendars, starts_at, tz=ctx.timezone, now=utc_now(), required=frozenset(required), seats_wanted=seats,
        seats_taken=seats_taken,
    )
    return slot, calendars


_BOOKING_COLUMNS = (
    "id", "branch", "service", "customer", "starts_at", "ends_at", "status", "channel", "seats", "price_amount",
    "price_currency", "payment_status", "answers", "form", "form_version", "notes", "manage_token_hash",
    "created_at", "updated_at",
)
_ALLOCATION_COLUMNS = ("id", "booking", "resource", "unit", "holder", "starts_at", "ends_at", "active")


def _holds(
    booking_id: UUID, holder: str, ctx: ServiceContext, slot: Slot, calendars: list[ResourceCalendar]
) -> tuple[str, tuple[str, ...], list[tuple[Any, ...]]]:
    """The slot's allocation rows, for `insert_rows`."""
    return "allocation", _ALLOCATION_COLUMNS, [
        (uuid4(), booking_id, h.resource_id, h.unit, holder, h.starts_at, h.ends_at, True)
        for h in holds_for(ctx.rules, slot, calendars)
    ]


async def _service_for(service_id: UUID, *, actor: Actor, staff: bool, remembered: bool) -> tuple[ServiceContext, str | None]:
    """The service's context and, if it was remembered rather than read now, the catalog revision to check."""
    try:
        ctx, revision = await remembered_service(service_id) if remembered else (await load_service(service_id), None)
    except NotFound:
        raise Invalid({"service_id": "no such service"}) from None
    if staff and not actor.can(Permission.bookings_write, ctx.branch_id):
        raise Invalid({"service_id": "no such service"})
    if not ctx.active:
        raise Invalid({"service_id": "this service is not offered any more"})
    if not staff and not ctx.branch_active:
        raise Invalid({"service_id": "this branch takes no bookings at present"})
    return ctx, revision


async def create_booking(
    request: NewBooking, *, actor: Actor, staff: bool, idempotency: IdempotencyKey | None = None
) -> schemas.BookingCreated:
    """Book a slot: the customer matched or created, the allocations taken, audited, one event.

    `staff` bookings may use any channel and any customer; portal bookings are channel web. The service's
    rules are this process's remembered ones only if the booking's calendar query finds the catalog
    unchanged since they were read, or, for a refusal judged on them before any query (withdrawn, wrong
    channel, bad answers), if the catalog's revision still is theirs; else everything is judged again on
    the rules read afresh.

    An `idempotency` key is looked up only when the booking fails, however (its slot taken by the first
    request, a lock timeout), or its commit finds the key stored: a replay costs more, a first request no
    statement.
    """
    try:
        return await _create_booking_afresh_if_stale(request, actor=actor, staff=staff, idempotency=idempotency)
    except Exception:
        if idempotency and (replay := await find_replay(idempotency)):
            return msgspec.convert(replay, schemas.BookingCreated)
        raise


async def _create_booking_afresh_if_stale(
    request: NewBooking, *, actor: Actor, staff: bool, idempotency: IdempotencyKey | None
) -> schemas.BookingCreated:
    try:
        return await _create_booking(request, actor=actor, staff=staff, idempotency=idempotency, remembered=True)
    except _StaleContext:
        pass
    except Invalid:
        if await remembered_is_current(request.service_id):
            raise
    return await _create_booking(request, actor=actor, staff=staff, idempotency=idempotency, remembered=False)


async def _create_booking(
    request: NewBooking, *, actor: Actor, staff: bool, idempotency: IdempotencyKey | None, remembered: bool
) -> schemas.BookingCreated:
    ctx, revision = await _service_for(request.service_id, actor=actor, staff=staff, remembered=remembered)
    if ctx.channels and request.channel not in ctx.channels:
        raise Invalid({"channel": f"this service is not booked through {request.channel}"})
    if not staff and request.resource_ids and not ctx.customer_picks_staff:
        raise Invalid({"resource_ids": "this service does not let customers choose"})
    if request.seats > ctx.rules.seats:
        raise Invalid({"seats": f"at most {ctx.rules.seats} for this service"})
    if ctx.price.amount * request.seats > MAX_PRICE_AMOUNT:
        raise Invalid({"seats": f"the price of {request.seats} seats would exceed {MAX_PRICE_AMOUNT} minor units"})
    validated_contact(request.customer)
    checked = await check_booking_answers(ctx.form, request.answers or {}, locale=request.locale)
    check_in_reach(starts_at=request.starts_at)
    starts_at = request.starts_at.astimezone(utc_now().tzinfo)
    now = utc_now()
    _check_start_time(ctx, starts_at, now)
    required = tuple(request.resource_ids)
    status = Status.pending_approval if ctx.requires_approval else Status.confirmed
    for _attempt in range(RACE_RETRIES):
        token = secrets.token_urlsafe(24)  # 192 bits; only its hash is stored
        booking_id = uuid4()
        try:
            async with write_transaction():
                slot, calendars = await _take_slot(ctx, starts_at, required, request.seats, revision=revision)
                if slot is None:
                    break
                customer_id, new_customer = await match_or_plan_customer(
                    request.customer, channel=request.channel, actor=actor
                )
                holder = slot.holder or (occurrence_holder(ctx.rules.id, starts_at) if ctx.rules.seats > 1 else str(booking_id))
                row = {
                    "id": booking_id, "branch": ctx.branch_id, "service": ctx.rules.id, "customer": customer_id,
                    "starts_at": slot.starts_at, "ends_at": slot.ends_at, "status": status.value,
                    "channel": request.channel, "seats": request.seats,
                    "price_amount": ctx.price.amount * request.seats, "price_currency": ctx.price.currency,
                    "payment_status": "unpaid", "answers": checked.answers, "form": checked.form_id,
                    "form_version": checked.version, "notes": request.notes, "manage_token_hash": digest(token),
                    "created_at": now, "updated_at": now,
                }
                row["answers"] = sealed_answers(booking_id, checked.answers)
                row["notes"] = sealed_notes(booking_id, request.notes)
                # A new customer, the booking and its allocations in one statement on PostgreSQL; a lost race
                # fails it.
                await insert_rows(
                    *([new_customer] if new_customer else []),
                    ("booking", _BOOKING_COLUMNS, [tuple(row[c] for c in _BOOKING_COLUMNS)]),
                    _holds(booking_id, holder, ctx, slot, calendars),
                )
                booking = booking_schema(row, [p.resource_id for p in slot.picks])
                await record_change(
                    "booking.created", Subject("booking", str(booking_id)), _event_data(booking), actor=actor,
                    changed_fields=["service", "starts_at", "customer", "status", "resource_ids", "seats"]
                    + (["answers"] if checked.answers else []) + (["notes"] if request.notes else []),
                    details={"status": status.value, "channel": request.channel},
                )
                created = schemas.BookingCreated(
                    booking=booking, manage_token=token, manage_path=MANAGE_PATH.format(token=token)
                )
                if idempotency:
                    await remember_response(idempotency, 201, created)
                return created
        except Exception as exc:
            if is_overlap_violation(exc):
                continue  # someone took a picked resource first: look again
            if idempotency and is_unique_violation(exc) and (replay := await find_replay(idempotency)):
                return msgspec.convert(replay, schemas.BookingCreated)
            if is_unique_violation(exc):
                continue  # the same new customer was created concurrently: now they exist
            raise
    raise await _unavailable(ctx, starts_at, required, request.seats, public=not staff)


def _event_data(booking: schemas.Booking) -> dict[str, Any]:
    """Identifiers and facts for subscribers; the customer is referenced, never copied."""
    data: dict[str, Any] = msgspec.to_builtins(booking)
    data.pop("answers", None)
    data.pop("notes", None)
    return data


# Checks other domains put on transitions asked for directly (a booking waiting for its approval levels
# is decided through them, not by a plain approve); each raises to refuse.
TransitionGuard = Callable[[dict[str, Any], Transition], Awaitable[None]]
_transition_guards: dict[str, TransitionGuard] = {}


def guard_transitions(key: str, guard: TransitionGuard) -> None:
    _transition_guards[key] = guard


async def transition_booking(
    booking_id: UUID, name: str, *, actor: Actor, reason: str = "", guarded: bool = True
) -> schemas.Booking:
    """Move a booking along the state machine (confirm, approve, reject, check-in, complete, no-show, cancel).
    `guarded=False` is for the flows the guards send people to (the approval levels themselves)."""
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise NotFound(f"no transition called {name}")
    row = await get_booking_row(booking_id, actor=actor, permission=Permission.bookings_write)
    if guarded:
        for key in sorted(_transition_guards):
            await _transition_guards[key](row, transition)
    return await _apply_transition(row, transition, actor=actor, note={"reason": reason})


async def _apply_transition(
    row: dict[str, Any], transition: Transition, *, actor: Actor, note: dict[str, str]
) -> schemas.Booking:
    current = Status(row["status"])
    if problem := transition_problem(transition, current, started=utc_now() >= row["starts_at"]):
        raise Conflict(problem, code="invalid_transition", extra={"current_status": current.value})
    booking_id = row["id"]
    now = utc_now()
    async with write_transaction():
        # Conditional on the status read: a concurrent transition makes this one fail, not overwrite.
        updated = await Booking.update({Booking.status: transition.target.value, Booking.updated_at: now}).where(
            (Booking.id == booking_id) & (Booking.status == current.value)
        ).returning(Booking.id)
        if not updated:
            raise Conflict("the booking changed meanwhile; reload it", code="invalid_transition")
        if transition.target not in HOLDING:
            await Allocation.update({Allocation.active: False}).where(Allocation.booking == booking_id)
        booking = booking_schema(
            {**row, "status": transition.target.value, "updated_at": now}, (await resource_ids_of([booking_id]))[booking_id]
        )
        await record_change(
            transition.event, Subject("booking", str(booking_id)),
            {**_event_data(booking), "previous_status": current.value, **note}, actor=actor,
            changed_fields=["status"], details={"from": current.value, "to": transition.target.value},
        )
    return booking


async def _update_if_unchanged(row: dict[str, Any], changes: dict[Column | str, Any]) -> None:
    """Inside a write transaction, before a booking's allocations change: update it only if it is still as
    `row` read it (status, updated_at), which locks it. A cancel or a move committed meanwhile makes this a
    409, instead of leaving a cancelled booking holding new allocations or a booking two sets of them."""
    updated = await Booking.update(changes).where(
        (Booking.id == row["id"]) & (Booking.status == row["status"]) & (Booking.updated_at == row["updated_at"])
    ).returning(Booking.id)
    if not updated:
        raise Conflict("the booking changed meanwhile; reload it", code="invalid_transition")


async def reschedule_booking(
    booking_id: UUID, starts_at: datetime, *, actor: Actor, resource_ids: tuple[UUID, ...] = (),
    permission: Permission = Permission.bookings_write, row: dict[str, Any] | None = None,
    cancel_closed_at: datetime | None = None,
) -> schemas.Booking:
    """Move a booking atomically: in one transaction the old allocations are released and the new taken;
    if the new cannot be taken, the transaction rolls back and the booking keeps its time.
    `cancel_closed_at` is recorded with the move: online cancelling stays closed since then."""
    row = row or await get_booking_row(booking_id, actor=actor, permission=permission)
    current = Status(row["status"])
    if current not in RESCHEDULABLE:
        raise Conflict(f"a {current.value} booking cannot be rescheduled", code="invalid_transition")
    ctx = await load_service(row["service"])
    check_in_reach(starts_at=starts_at)
    starts_at = starts_at.astimezone(utc_now().tzinfo)
    _check_start_time(ctx, starts_at, utc_now())
    required = tuple(resource_ids)
    for _attempt in range(RACE_RETRIES):
        try:
            async with write_transaction():
                slot, calendars = await _take_slot(ctx, starts_at, required, row["seats"], exclude_booking=booking_id)
                if slot is None:
                    break
                holder = slot.holder or (occurrence_holder(ctx.rules.id, starts_at) if ctx.rules.seats > 1 else str(booking_id))
                now = utc_now()
                changes: dict[Column | str, Any] = {
                    Booking.starts_at: slot.starts_at, Booking.ends_at: slot.ends_at, Booking.updated_at: now,
                }
                if cancel_closed_at is not None:
                    changes[Booking.cancel_closed_at] = cancel_closed_at
                await _update_if_unchanged(row, changes)
                # The old allocations go before the new come, in the same transaction: a group class's
                # booking moving within its own session gets a new holder, which the overlap guard
                # would otherwise refuse against its own still active rows.
                await Allocation.update({Allocation.active: False}).where(
                    (Allocation.booking == booking_id) & (Allocation.active == True)  # noqa: E712
                )
                await insert_rows(_holds(booking_id, holder, ctx, slot, calendars))
                booking = booking_schema(
                    {**row, "starts_at": slot.starts_at, "ends_at": slot.ends_at, "updated_at": now},
                    [p.resource_id for p in slot.picks],
                )
                await record_change(
                    "booking.rescheduled", Subject("booking", str(booking_id)),
                    {**_event_data(booking), "previous_starts_at": row["starts_at"].isoformat()}, actor=actor,
                    changed_fields=["starts_at", "ends_at", "resource_ids"],
                )
                return booking
        except Exception as exc:
            if is_overlap_violation(exc):
                continue
            raise
    raise await _unavailable(
        ctx, starts_at, required, row["seats"], public=actor.kind == "customer", exclude_booking=booking_id
    )


async def reassign_resource(
    booking_id: UUID, resource_id: UUID, *, actor: Actor, reason: str = "", row: dict[str, Any] | None = None,
) -> schemas.Booking:
    """Give a booking `resource_id` at the same time, in place of the pick it can stand in for (a VIP's
    "gold consultant" instead of whoever was free); the other picks stay where they can. Atomic like a
    reschedule, and like it refused (409) if the booking changed since it was read. The booking keeps its
    own length, whatever the service's is now. Emitted as booking.reassigned."""
    row = row or await get_booking_row(booking_id, actor=actor, permission=Permission.bookings_write)
    ctx, picks = await _reassignable(row)
    if resource_id in picks:
        return booking_schema(row, picks)  # already there: nothing changes, nothing is recorded
    for _attempt in range(RACE_RETRIES):
        try:
            async with write_transaction():
                now = utc_now()
                await _update_if_unchanged(row, {Booking.updated_at: now})
                slot, calendars = await _reassigned_slot(ctx, row, picks, resource_id)
                await Allocation.update({Allocation.active: False}).where(
                    (Allocation.booking == booking_id) & (Allocation.active == True)  # noqa: E712
                )
                await insert_rows(_holds(booking_id, str(booking_id), ctx, slot, calendars))
                booking = booking_schema({**row, "updated_at": now}, [p.resource_id for p in slot.picks])
                await record_change(
                    "booking.reassigned", Subject("booking", str(booking_id)),
                    {**_event_data(booking), "previous_resource_ids": [str(p) for p in picks], "reason": reason},
                    actor=actor, changed_fields=["resource_ids"],
                )
                return booking
        except Exception as exc:
            if is_overlap_violation(exc):
                continue  # the resource was taken meanwhile: look again
            raise
    raise Conflict("that resource was taken meanwhile; try again", code="slot_unavailable")


async def preview_reassignment(booking_id: UUID, resource_id: UUID, *, actor: Actor) -> list[UUID]:
    """The resources the booking would hold after `reassign_resource`, changing nothing; raises why not."""
    row = await get_booking_row(booking_id, actor=actor, permission=Permission.bookings_read)
    ctx, picks = await _reassignable(row)
    if resource_id in picks:
        return picks
    slot, _ = await _reassigned_slot(ctx, row, picks, resource_id)
    return [p.resource_id for p in slot.picks]


async def _reassignable(row: dict[str, Any]) -> tuple[ServiceContext, list[UUID]]:
    current = Status(row["status"])
    if current not in RESCHEDULABLE:
        raise Conflict(f"a {current.value} booking keeps its resources", code="invalid_transition")
    if row["starts_at"] <= utc_now():
        raise Conflict("the booking has started: its resources stay", code="invalid_transition")
    ctx = await load_service(row["service"])
    if ctx.rules.seats > 1:
        raise Conflict("a group class's resources are shared by all its bookings", code="group_class")
    # The booking keeps its own length and start: the service's length and slot step may have changed since
    # it was made, and a start off today's grid is still the booking's.
    ctx = replace(ctx, rules=replace(
        ctx.rules, duration=row["ends_at"] - row["starts_at"], step=step_through(ctx.rules, row["starts_at"], tz=ctx.timezone),
    ))
    return ctx, (await resource_ids_of([row["id"]]))[row["id"]]


async def _reassigned_slot(
    ctx: ServiceContext, row: dict[str, Any], picks: list[UUID], resource_id: UUID
) -> tuple[Slot, list[ResourceCalendar]]:
    """The booking's slot with `resource_id` among its picks, keeping as many of its other picks as can
    stay: first all but one it could replace, then only the resource asked for."""
    starts_at: datetime = row["starts_at"]
    calendars, seats_taken = await load_calendars(
        ctx.branch_id, *start_window(ctx.rules, starts_at, ctx.timezone), margin=timedelta(0),
        exclude_booking=row["id"],
    )
    by_id = {c.id: c for c in calendars}
    wanted = by_id.get(resource_id)
    if wanted is None:
        raise Invalid({"resource_id": "no such active resource in this booking's branch"})
    if not any(n.kind == wanted.kind and n.skills <= wanted.skills for n in ctx.rules.needs):
        raise Invalid({"resource_id": f"{wanted.name or wanted.kind} meets none of this service's requirements"})
    replaceable = [p for p in picks if p in by_id and by_id[p].kind == wanted.kind]
    keeps = [frozenset(p for p in picks if p != replaced) for replaced in replaceable] + [frozenset()]
    # Notice and advance limits are the customer's when booking, not staff's when rearranging: judge the
    # slot as of the moment it was bookable.
    as_of = starts_at - ctx.rules.min_notice
    for keep in keeps:
        slot = check_start(
            ctx.rules, calendars, starts_at, tz=ctx.timezone, now=as_of, required=keep | {resource_id},
            seats_wanted=row["seats"], seats_taken=seats_taken,
        )
        if slot is not None:
            return slot, calendars
    raise Conflict(f"{wanted.name or wanted.kind} is not free for this booking's time", code="slot_unavailable")


# --- Customer self-service by manage token ---------------------------------------------------------


async def _row_by_token(token: str) -> dict[str, Any]:
    row = await Booking.select().where(Booking.manage_token_hash == digest(token)).output(load_json=True).first()
    if row is None:
        raise NotFound("no booking for this link")
    return row


def customer_actor(row: dict[str, Any], *, ip: str | None, request_id: str | None) -> Actor:
    return Actor(
        kind="customer", id=str(row["customer"]), label="customer", auth_method="manage_token", ip=ip,
        request_id=request_id, grants=(),
    )


def _cutoff_problem(row: dict[str, Any], cutoff: timedelta, what: str) -> str | None:
    if utc_now() > row["starts_at"] - cutoff:
        minutes = int(cutoff.total_seconds() // 60)
        return f"online {what} closes {minutes} minutes before the booking; please call the branch"
    return None


def _cancel_problem(row: dict[str, Any], ctx: ServiceContext) -> str | None:
    """Why the customer may not cancel online now, if so: the cut-off has passed for this start, or it had
    passed for an earlier one when they moved the booking."""
    if row["cancel_closed_at"] is not None:
        return "online cancelling had closed when this booking was moved; please call the branch"
    return _cutoff_problem(row, ctx.cancel_cutoff, "cancelling")


def _cancel_closes_at(row: dict[str, Any], ctx: ServiceContext) -> datetime:
    closed: datetime | None = row["cancel_closed_at"]
    return closed if closed is not None else row["starts_at"] - ctx.cancel_cutoff


async def portal_view(token: str) -> schemas.PortalBooking:
    row = await _row_by_token(token)
    ctx = await load_service(row["service"])
    status = Status(row["status"])
    return schemas.PortalBooking(
        id=row["id"], status=status.value, branch_id=row["branch"], branch_name=ctx.branch_name,
        service_id=row["service"], service_name=ctx.name, starts_at=row["starts_at"], ends_at=row["ends_at"],
        seats=row["seats"], price=booking_schema(row, []).price,
        can_cancel=status in TRANSITIONS["cancel"].sources and not _cancel_problem(row, ctx),
        can_reschedule=status in RESCHEDULABLE and ctx.active and ctx.branch_active
        and not _cutoff_problem(row, ctx.reschedule_cutoff, "rescheduling"),
        cutoff_at=_cancel_closes_at(row, ctx),
    )


async def cancel_by_customer(token: str, *, ip: str | None, request_id: str | None) -> schemas.PortalBooking:
    row = await _row_by_token(token)
    ctx = await load_service(row["service"])
    if problem := _cancel_problem(row, ctx):
        raise Conflict(problem, code="cutoff_passed")
    actor = customer_actor(row, ip=ip, request_id=request_id)
    await _apply_transition(row, TRANSITIONS["cancel"], actor=actor, note={"by": "customer"})
    return await portal_view(token)


async def reschedule_by_customer(
    token: str, starts_at: datetime, resource_ids: tuple[UUID, ...], *, ip: str | None, request_id: str | None
) -> schemas.PortalBooking:
    row = await _row_by_token(token)
    ctx = await load_service(row["service"])
    if problem := _cutoff_problem(row, ctx.reschedule_cutoff, "rescheduling"):
        raise Conflict(problem, code="cutoff_passed")
    if not (ctx.active and ctx.branch_active):
        raise Conflict("this service takes no new times online at present; please call the branch", code="not_offered")
    if resource_ids and not ctx.customer_picks_staff:
        raise Invalid({"resource_ids": "this service does not let customers choose"})
    actor = customer_actor(row, ip=ip, request_id=request_id)
    # A move after online cancelling closed keeps it closed: else moving to a far date, then cancelling,
    # would be a late cancellation by another name.
    closes_at = _cancel_closes_at(row, ctx)
    await reschedule_booking(
        row["id"], starts_at, actor=actor, resource_ids=resource_ids, row=row,
        cancel_closed_at=closes_at if utc_now() > closes_at else None,
    )
    return await portal_view(token)


async def set_payment_status(booking_id: UUID, payment_status: PaymentStatus, *, actor: Actor) -> schemas.Booking:
    """Record where payment stands (unpaid, awaiting_payment, paid, refunded); audited, one event."""
    row = await get_booking_row(booking_id, actor=actor, permission=Permission.bookings_write)
    current = row["payment_status"]
    if current == payment_status.value:
        return booking_schema(row, (await resource_ids_of([booking_id]))[booking_id])
    now = utc_now()
    async with write_transaction():
        updated = await Booking.update({Booking.payment_status: payment_status.value, Booking.updated_at: now}).where(
            (Booking.id == booking_id) & (Booking.payment_status == current)
        ).returning(Booking.id)
        if not updated:
            raise Conflict("the booking changed meanwhile; reload it", code="payment_status_changed")
        booking = booking_schema(
            {**row, "payment_status": payment_status.value, "updated_at": now},
            (await resource_ids_of([booking_id]))[booking_id],
        )
        await record_change(
            "booking.payment_status_changed", Subject("booking", str(booking_id)),
            {**_event_data(booking), "previous_payment_status": current}, actor=actor,
            changed_fields=["payment_status"], details={"from": current, "to": payment_status.value},
        )
    return booking


# --- Imported history --------------------------------------------------------------------------------

HISTORICAL = frozenset({Status.completed.value, Status.cancelled.value, Status.no_show.value})


async def import_bookings(batch: Sequence[schemas.ImportedBooking], *, actor: Actor) -> schemas.ImportedBookings:
    """Write past bookings from an import in the caller's transaction, without availability checks: they
    are records of what happened, not claims on time. A booking the customer already has (same service,
    same start) is left alone, so a second import changes nothing. The staff member, if given, is
    recorded as an inactive allocation: it shows who served the customer (favourite staff) and never
    blocks a slot. No event per booking (customers must not be messaged about their past); the import
    run audits itself once. The caller recomputes the customers' facts."""
    refused = sorted({str(b.branch_id) for b in batch if not actor.can(Permission.bookings_write, b.branch_id)})
    if refused:
        raise Forbidden(f"this needs the permission {Permission.bookings_write.value} in every branch of the batch")
    problems = {f"rows[{b.row}].status": "completed, cancelled or no_show" for b in batch if b.status not in HISTORICAL}
    if problems:
        raise Invalid(problems)
    outcome = schemas.ImportedBookings()
    if not batch:
        return outcome
    async with write_transaction():
        held = await Booking.select(Booking.customer, Booking.service, Booking.starts_at).where(
            Booking.customer.is_in(list({b.customer_id for b in batch}))
            & (Booking.starts_at >= min(b.starts_at for b in batch)) & (Booking.starts_at <= max(b.starts_at for b in batch))
        )
        seen = {(r["customer"], r["service"], r["starts_at"]) for r in held}
        now = utc_now()
        rows: list[Booking] = []
        staff: list[Allocation] = []
        for b in batch:
            key = (b.customer_id, b.service_id, b.starts_at)
            if key in seen:
                outcome.unchanged += 1
                continue
            seen.add(key)
            booking_id = uuid4()
            rows.append(Booking(
                id=booking_id, branch=b.branch_id, service=b.service_id, customer=b.customer_id, starts_at=b.starts_at,
                ends_at=b.ends_at, status=b.status, channel="import", seats=1, price_amount=b.price_amount,
                price_currency=b.price_currency, payment_status=b.payment_status, answers="", notes=sealed_notes(booking_id, b.notes),
                # A fresh secret nobody sees: self-service has no business with past bookings.
                manage_token_hash=digest(secrets.token_urlsafe(24)), created_at=now, updated_at=now,
            ))
            if b.staff_id is not None:
                staff.append(Allocation(
                    id=uuid4(), booking=booking_id, resource=b.staff_id, unit=0, holder=str(booking_id),
                    starts_at=b.starts_at, ends_at=b.ends_at, active=False,
                ))
        if rows:
            await Booking.insert(*rows)
        if staff:
            await Allocation.insert(*staff)
        outcome.created = len(rows)
    return outcome
