"""Bookings pages: the filtered list, one booking (details, timeline, every transition, reschedule) and the
approvals queue. Each calls the bookings and automation actions and queries in-process."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from litestar import Controller, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.automation import approvals
from appliance.automation import queries as automation
from appliance.bookings import actions, queries
from appliance.bookings.reveals import record_booking_viewed
from appliance.bookings.schemas import Booking
from appliance.catalog import queries as catalog
from appliance.core.clock import utc_now
from appliance.core.errors import AppError, Invalid
from appliance.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_instant_cursor, encode_instant_cursor
from appliance.customers import queries as customers
from appliance.web.admin.booking_timeline import booking_timeline
from appliance.web.admin.booking_views import (
    CHANNEL_LABELS, PAYMENT_LABELS, STATUS_LABELS, TRANSITION_LABELS, WITH_REASON, allowed_transitions, answer_rows,
    as_uuid,
    branch_book, field_texts,
    chosen_branch, customers_of, local_day_range, local_instant, local_wall, readable_branches, refusal_text,
)
from appliance.web.admin.shell import admin_page, go_to
from appliance.web.templating import AnyRequest, texts_for

SECTION = "bookings"
APPROVALS_PATH = "/admin/bookings/approvals"
DECIDED_IN_QUEUE = frozenset({"approve", "reject", "confirm"})


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


async def _customer_ids(search: str) -> tuple[UUID, ...]:
    """The customers a front-desk search means: the last four digits of a phone, a whole phone, or part
    of a name (the customers package's own lookup)."""
    digits = re.sub(r"\D", "", search)
    if search.strip().isdigit() and len(digits) == 4:
        found = customers.CustomerFilter(phone_last4=digits)
    elif len(digits) >= 7:
        found = customers.CustomerFilter(phone=search)
    else:
        found = customers.CustomerFilter(q=search)
    items, _ = await customers.list_customers(found, after=None, limit=MAX_LIMIT)
    return tuple(c.id for c in items)


class BookingPages(Controller):
    path = "/admin/bookings"
    include_in_schema = False

    @get("/", opt=requires(Permission.bookings_read))
    async def list_page(self, request: AnyRequest) -> Template:
        """Filters come from a plain GET form, so empty inputs arrive as "" and bad ones are ignored."""
        actor = actor_of(request)
        params = request.query_params
        branches = await readable_branches(actor)
        branch = chosen_branch(branches, as_uuid(params.get("branch_id")))
        book = await branch_book(branch, actor=actor)
        first = _day(params.get("from")) if "from" in params else utc_now().astimezone(book.zone).date()
        last = _day(params.get("to"))
        search = (params.get("customer") or "").strip()[:100]
        status = params.get("status") if params.get("status") in STATUS_LABELS else None
        channel = params.get("channel") if params.get("channel") in CHANNEL_LABELS else None
        starts_from = local_day_range(first, first, book.zone)[0] if first else None
        starts_before = local_day_range(last, last, book.zone)[1] if last else None
        filters = queries.BookingFilter(
            branch_id=branch.id, starts_from=starts_from, starts_before=starts_before, status=status, channel=channel,
            service_id=as_uuid(params.get("service_id")), resource_id=as_uuid(params.get("resource_id")),
            customer_ids=await _customer_ids(search) if search and actor.can(Permission.customers_read) else None,
        )
        try:
            after = decode_instant_cursor(params.get("cursor"))
        except AppError:
            after = None
        items, next_key = await queries.list_bookings(filters, actor=actor, after=after, limit=DEFAULT_LIMIT)
        query = {k: v for k, v in params.items() if k not in ("cursor", "lang")}
        return admin_page(request, "admin/bookings/list.html", {
            "branches": branches, "book": book, "bookings": items, "people": await customers_of(items, actor=actor),
            "filters": {**query, "branch_id": str(branch.id), "from": first.isoformat() if first else "",
                        "to": last.isoformat() if last else "", "customer": search},
            "next_query": {**query, "cursor": encode_instant_cursor(next_key)} if next_key else None,
            "status_labels": STATUS_LABELS, "channel_labels": CHANNEL_LABELS,
        }, section=SECTION)

    @get("/approvals", opt=requires(Permission.bookings_read))
    async def approvals_page(self, request: AnyRequest) -> Template:
        return await _approvals_page(request)

    @post("/approvals/{approval_id:uuid}/{decision:str}", opt=requires(Permission.bookings_write))
    async def decide(self, request: AnyRequest, approval_id: FromPath[UUID], decision: FromPath[str]) -> Response[Any]:
        """One-click approval of the current level, or a rejection with its reason."""
        actor = actor_of(request)
        form = await request.form()
        reason = str(form.get("reason", "")).strip()[:500]
        try:
            if decision not in ("approve", "reject"):
                raise Invalid({"decision": "approve or reject"})
            await automation.get_approval(approval_id, actor=actor)  # 404 outside the person's branches
            await approvals.decide(approval_id, decision, actor=actor, reason=reason)
        except AppError as error:
            return await _approvals_page(request, problem=refusal_text(texts_for(request), error), status=error.status)
        return go_to(request, APPROVALS_PATH)

    @get("/{booking_id:uuid}", opt=requires(Permission.bookings_read))
    async def detail(self, request: AnyRequest, booking_id: FromPath[UUID]) -> Template:
        booking = await queries.get_booking(booking_id, actor=actor_of(request))
        return await _detail_page(request, booking)

    @post("/{booking_id:uuid}/reschedule", opt=requires(Permission.bookings_write))
    async def reschedule(self, request: AnyRequest, booking_id: FromPath[UUID]) -> Response[Any]:
        actor = actor_of(request)
        booking = await queries.get_booking(booking_id, actor=actor)
        form = await request.form()
        branch = await catalog.get_branch(booking.branch_id, actor=actor)
        try:
            starts_at = local_instant(str(form.get("starts_at", "")), ZoneInfo(branch.timezone), field="starts_at")
            await actions.reschedule_booking(booking_id, starts_at, actor=actor, resource_ids=tuple(booking.resource_ids))
        except AppError as error:
            return await _detail_page(request, booking, error=error, wanted=str(form.get("starts_at", ""))[:40])
        return go_to(request, f"/admin/bookings/{booking_id}")

    @post("/{booking_id:uuid}/{transition:str}", opt=requires(Permission.bookings_write))
    async def transition(self, request: AnyRequest, booking_id: FromPath[UUID], transition: FromPath[str]) -> Response[Any]:
        """Confirm, check in, complete, no-show, cancel…: the state machine decides; its refusal is shown inline."""
        actor = actor_of(request)
        form = await request.form()
        reason = str(form.get("reason", "")).strip()[:500]
        try:
            await actions.transition_booking(booking_id, transition, actor=actor, reason=reason)
        except AppError as error:
            booking = await queries.get_booking(booking_id, actor=actor)
            return await _detail_page(request, booking, error=error)
        return go_to(request, f"/admin/bookings/{booking_id}")


async def _detail_page(
    request: AnyRequest, booking: Booking, *, error: AppError | None = None, wanted: str = ""
) -> Template:
    actor = actor_of(request)
    branch = await catalog.get_branch(booking.branch_id, actor=actor)
    book = await branch_book(branch, actor=actor)
    people = await customers_of([booking], actor=actor)
    await record_booking_viewed(booking, actor=actor)
    # While approval levels are pending, the booking's own approve/reject/confirm are refused: the queue decides.
    pending = await automation.list_approvals(actor=actor, status="pending", limit=MAX_LIMIT)
    in_approval = any(a.booking_id == booking.id for a in pending)
    transitions = [t for t in allowed_transitions(booking) if not (in_approval and t.name in DECIDED_IN_QUEUE)]
    fields = field_texts(texts_for(request), error) if error else {}
    problem = refusal_text(texts_for(request), error) if error and not fields else None
    return admin_page(request, "admin/bookings/detail.html", {
        "booking": booking, "book": book, "customer": people.get(booking.customer_id),
        "answers": await answer_rows(booking, texts_for(request).locale),
        "timeline": await booking_timeline(booking.id), "transitions": transitions, "in_approval": in_approval,
        "transition_labels": TRANSITION_LABELS, "with_reason": WITH_REASON, "status_labels": STATUS_LABELS,
        "payment_labels": PAYMENT_LABELS, "channel_labels": CHANNEL_LABELS,
        "may_write": actor.can(Permission.bookings_write, booking.branch_id),
        "reschedulable": booking.status in ("pending_approval", "confirmed"),
        "starts_local": wanted or local_wall(booking.starts_at, book.zone),
        "problem": problem, "errors": fields,
    }, section=SECTION, status=error.status if error else 200)


async def _approvals_page(request: AnyRequest, *, problem: str | None = None, status: int = 200) -> Template:
    actor = actor_of(request)
    pending = await automation.list_approvals(actor=actor, status="pending", limit=MAX_LIMIT)
    rows = []
    for approval in pending:
        booking = await queries.get_booking(approval.booking_id, actor=actor)
        rows.append((approval, booking))
    books = {b.id: await branch_book(b, actor=actor) for b in await readable_branches(actor)}
    people = await customers_of([b for _, b in rows], actor=actor)
    return admin_page(request, "admin/bookings/approvals.html", {
        "rows": rows, "books": books, "people": people, "problem": problem,
    }, section=SECTION, status=status)
