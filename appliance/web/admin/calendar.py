"""The calendar: a day or week of one branch, a lane per resource, drawn by event-calendar in the browser.

The browser never does time-zone arithmetic: the calendar runs in "UTC" mode, and every time crossing
between it and these handlers is the branch's wall clock without an offset ("2026-12-01T10:00"), turned
into an instant here with the branch's zone (so the view matches the branch whatever the browser's zone,
daylight-saving days included)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromQuery, JSONBody
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK

from appliance.auth.actor import Actor
from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.bookings import actions, queries
from appliance.bookings.states import HOLDING, RESCHEDULABLE
from appliance.catalog import queries as catalog
from appliance.core.clock import utc_now
from appliance.core.errors import AppError, Invalid
from appliance.core.pagination import MAX_LIMIT
from appliance.customers.schemas import CustomerContact
from appliance.web.admin.booking_views import (
    KIND_LABELS, STATUS_LABELS, BranchBook, as_uuid, branch_book, field_texts, chosen_branch, customers_of, local_instant, local_wall,
    readable_branches, refusal_text,
)
from appliance.web.admin.shell import NO_STORE, admin_page
from appliance.web.i18n import Texts
from appliance.web.templating import AnyRequest, texts_for

SECTION = "calendar"
VIEWS = ("resourceTimeGridDay", "resourceTimeGridWeek")
LONGEST_RANGE = timedelta(days=43)  # a week view with margins; the calendar never asks for more


class CalendarEvent(msgspec.Struct):
    """One event as event-calendar takes it; times are the branch's wall clock."""

    id: str
    resourceIds: list[str]  # noqa: N815 - event-calendar's names
    start: str
    end: str
    title: str = ""
    classNames: list[str] = []  # noqa: N815
    display: str = "auto"
    editable: bool = False
    extendedProps: dict[str, str] = {}  # noqa: N815


class Move(msgspec.Struct, forbid_unknown_fields=True):
    """A drag: the booking's new start (wall clock), and the lane it left and the one it landed on."""

    booking_id: UUID
    starts_at: str
    from_resource_id: UUID | None = None
    to_resource_id: UUID | None = None


class Said(msgspec.Struct):
    """What the page announces in its live region, in the person's language."""

    message: str


def _wall_param(value: str) -> datetime:
    """A range bound event-calendar sends: its wall-clock part only (in "UTC" mode it may end in Z)."""
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "")).replace(tzinfo=None)
    except ValueError:
        raise Invalid({"start": "a date and time"}) from None


def _title(service: str, customer: str | None) -> str:
    return f"{service} · {customer}" if customer else service


async def _booking_events(book: BranchBook, start: datetime, end: datetime, *, actor: Actor) -> list[CalendarEvent]:
    filters = queries.BookingFilter(branch_id=book.branch.id, starts_from=start - timedelta(days=1), starts_before=end)
    found, after = [], None
    while True:  # every booking of the range: the page size is the API's, the range is short
        items, after = await queries.list_bookings(filters, actor=actor, after=after, limit=MAX_LIMIT)
        found += [b for b in items if b.status in HOLDING and b.ends_at > start]
        if after is None:
            break
    people = await customers_of(found, actor=actor)
    now, writable = utc_now(), actor.can(Permission.bookings_write, book.branch.id)
    return [
        CalendarEvent(
            id=str(b.id), resourceIds=[str(r) for r in b.resource_ids], start=local_wall(b.starts_at, book.zone),
            end=local_wall(b.ends_at, book.zone),
            title=_title(book.service_name(b.service_id), people[b.customer_id].name if b.customer_id in people else None),
            classNames=[f"status-{b.status}"],
            editable=writable and b.status in RESCHEDULABLE and b.starts_at > now,
            extendedProps={"url": f"/admin/bookings/{b.id}", "status": b.status},
        )
        for b in found
    ]


async def _time_off_events(book: BranchBook, start: datetime, end: datetime, *, actor: Actor) -> list[CalendarEvent]:
    events = []
    for resource in book.resources.values():
        for off in await catalog.list_time_off(resource.id, actor=actor, starts_before=end, ends_after=start):
            events.append(CalendarEvent(
                id=f"off-{off.id}", resourceIds=[str(resource.id)], start=local_wall(off.starts_at, book.zone),
                end=local_wall(off.ends_at, book.zone), display="background", classNames=["time-off"],
            ))
    return events


def _button_texts(texts: Texts) -> dict[str, str]:
    return {"today": texts.gettext("Today"), "resourceTimeGridDay": texts.gettext("Day"),
            "resourceTimeGridWeek": texts.gettext("Week"), "prev": texts.gettext("Earlier"), "next": texts.gettext("Later")}


class CalendarPages(Controller):
    path = "/admin/calendar"
    include_in_schema = False

    @get("/", opt=requires(Permission.bookings_read))
    async def calendar(
        self, request: AnyRequest, branch_id: FromQuery[str | None] = None, day: FromQuery[str | None] = None,
        view: FromQuery[str | None] = None,
    ) -> Template:
        actor = actor_of(request)
        branches = await readable_branches(actor)
        try:
            shown = date.fromisoformat(day) if day else None
        except ValueError:
            shown = None
        book = await branch_book(chosen_branch(branches, as_uuid(branch_id)), actor=actor)
        texts, choices = texts_for(request), _choices(book)
        lanes = [{"id": str(r.id), "title": f"{r.name} · {texts.gettext(KIND_LABELS[r.kind])}"} for r in choices["lanes"]]
        return admin_page(request, "admin/calendar/page.html", {
            "branches": branches, "book": book, "status_labels": STATUS_LABELS, **choices,
            "config": json.dumps({
                "branch": str(book.branch.id), "view": view if view in VIEWS else VIEWS[0],
                "date": (shown or utc_now().astimezone(book.zone).date()).isoformat(), "locale": texts.locale,
                "resources": lanes, "buttons": _button_texts(texts),
                "editable": actor.can(Permission.bookings_write, book.branch.id),
                "texts": {"offline": texts.gettext("The server could not be reached; the booking was put back.")},
            }, ensure_ascii=False),
            "form": {}, "errors": {}, "problem": None, "done": None,
        }, section=SECTION)

    @get("/events", opt=requires(Permission.bookings_read))
    async def events(self, request: AnyRequest, branch_id: FromQuery[UUID], start: FromQuery[str], end: FromQuery[str]) -> Response[list[CalendarEvent]]:
        """The bookings (coloured by status) and time off of a branch between two wall-clock times."""
        actor = actor_of(request)
        book = await branch_book(chosen_branch(await readable_branches(actor), branch_id), actor=actor)
        first, last = _wall_param(start).replace(tzinfo=book.zone), _wall_param(end).replace(tzinfo=book.zone)
        if not timedelta(0) < last - first <= LONGEST_RANGE:
            raise Invalid({"end": "after start, at most six weeks later"})
        found = await _booking_events(book, first, last, actor=actor) + await _time_off_events(book, first, last, actor=actor)
        return Response(found, headers=NO_STORE)

    @post("/move", opt=requires(Permission.bookings_write), status_code=HTTP_200_OK)
    async def move(self, request: AnyRequest, data: JSONBody[Move]) -> Response[Said]:
        """A dropped event: another time (reschedule) and/or another lane (the resource replaced). A refusal
        comes back as its status with the reason in the person's language, so the page can put it back."""
        actor, texts = actor_of(request), texts_for(request)
        try:
            booking = await queries.get_booking(data.booking_id, actor=actor)
            branch = await catalog.get_branch(booking.branch_id, actor=actor)
            starts_at = local_instant(data.starts_at, ZoneInfo(branch.timezone), field="starts_at")
            lanes = [data.to_resource_id if r == data.from_resource_id and data.to_resource_id else r
                     for r in booking.resource_ids]
            if starts_at == booking.starts_at and data.to_resource_id and data.to_resource_id not in booking.resource_ids:
                moved = await actions.reassign_resource(booking.id, data.to_resource_id, actor=actor, reason="calendar")
            else:
                moved = await actions.reschedule_booking(booking.id, starts_at, actor=actor, resource_ids=tuple(lanes))
        except AppError as error:
            return Response(Said(refusal_text(texts, error)), status_code=error.status, headers=NO_STORE)
        message = texts.gettext("Moved to %(when)s.") % {"when": texts.when(moved.starts_at, branch.timezone)}
        return Response(Said(message), headers=NO_STORE)

    @post("/bookings", opt=requires(Permission.bookings_write))
    async def create(self, request: AnyRequest) -> Template:
        """The dialog opened on an empty slot books through the bookings action, as staff (channel admin)."""
        actor, texts = actor_of(request), texts_for(request)
        form = {k: str(v).strip()[:200] for k, v in (await request.form()).items()}
        book = await branch_book(chosen_branch(await readable_branches(actor), as_uuid(form.get("branch_id"))), actor=actor)
        service_id, lane = as_uuid(form.get("service_id")), as_uuid(form.get("resource_id"))
        try:
            if service_id not in book.services:
                raise Invalid({"service_id": "choose one of the branch's services"})
            assert service_id is not None
            created = await actions.create_booking(actions.NewBooking(
                service_id=service_id, starts_at=local_instant(form.get("starts_at", ""), book.zone, field="starts_at"),
                channel="admin", customer=CustomerContact(name=form.get("name", ""), phone=form.get("phone", "")),
                resource_ids=(lane,) if lane else (),
            ), actor=actor, staff=True)
        except AppError as error:
            fields = field_texts(texts, error)
            problem = None if fields else refusal_text(texts, error)
            return _create_form(request, book, form, fields, problem, status=error.status)
        done = texts.gettext("Booked for %(when)s.") % {"when": texts.when(created.booking.starts_at, book.branch.timezone)}
        return _create_form(request, book, {}, {}, None, done=done,
                            headers={"HX-Trigger": json.dumps({"booking-created": {"message": done}})})


def _create_form(
    request: AnyRequest, book: BranchBook, form: dict[str, str], errors: dict[str, str], problem: str | None, *,
    status: int = 200, done: str | None = None, headers: dict[str, str] | None = None,
) -> Template:
    return admin_page(request, "admin/calendar/_create_form.html", {
        "book": book, **_choices(book), "form": form, "errors": errors, "problem": problem, "done": done,
    }, section=SECTION, status=status, headers=headers)


def _choices(book: BranchBook) -> dict[str, Any]:
    """The services and lanes (staff first, then rooms, then equipment) of the branch that are in use."""
    lanes = sorted((r for r in book.resources.values() if r.active), key=lambda r: (list(KIND_LABELS).index(r.kind), r.name))
    return {"services": [s for s in book.services.values() if s.active], "lanes": lanes}
