"""The customer portal's pages: branch → service → staff → day → time → details → manage, and the survey.

Public, rate-limited like the portal API, embeddable (`?embed=1`). Each handler calls the same
actions and queries as `/api/v1/portal` in-process; nothing here writes to a table.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from appliance.auth.actor import Actor
from appliance.auth.api import actor_of, public_actor_of
from appliance.auth.guards import PUBLIC
from appliance.bookings import actions
from appliance.bookings import schemas as booking_schemas
from appliance.bookings.availability import free_days, free_slots
from appliance.bookings.idempotency import caller_scope, idempotency_key
from appliance.bookings.queries import resource_ids_of
from appliance.catalog import queries as catalog
from appliance.catalog import schemas as catalog_schemas
from appliance.core.clock import in_reach, utc_now
from appliance.core.errors import AppError, Invalid, NotFound
from appliance.customers.schemas import CustomerContact
from appliance.forms.logic import expected_answers
from appliance.forms.messages import pick
from appliance.forms.queries import attachment, current_form, form_fields
from appliance.forms.schemas import FieldDef
from appliance.notifications.channels import public_url
from appliance.surveys import actions as surveys
from appliance.surveys.schemas import SurveyAnswerCreate
from appliance.web.answers import answers_from_form
from appliance.web.failures import unexpected_failure_handlers
from appliance.web.i18n import N_, Texts
from appliance.web.ics import booking_calendar
from appliance.web.templating import AnyRequest, Links, page, texts_for

PRIVATE = {"Cache-Control": "no-store"}  # pages reached through a manage or survey token


@dataclass(frozen=True)
class MonthDay:
    day: date
    free: bool


@dataclass(frozen=True)
class Month:
    """One month of the date picker: weeks of days (None pads the first and last week)."""

    first: date
    weeks: list[list[MonthDay | None]]
    previous: date | None
    next: date | None


async def _month(actor: Actor, service_id: UUID, month: date | None, today: date, moving: UUID | None) -> Month:
    first = (month or today).replace(day=1)
    if first < today.replace(day=1):
        first = today.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    summary = await free_days(actor, service_id, max(first, today), last, public=True, moving=moving) \
        if last >= today else None
    free = set(summary.days) if summary else set()
    weeks: list[list[MonthDay | None]] = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        weeks.append([MonthDay(d, d in free) if d.month == first.month else None for d in week])
    following = (last + timedelta(days=1))
    return Month(first=first, weeks=weeks, previous=(first - timedelta(days=1)).replace(day=1) if first > today else None,
                 next=following)


async def _slots(
    actor: Actor, service_id: UUID, day: date, tz: ZoneInfo, staff: UUID | None, moving: UUID | None
) -> list[booking_schemas.SlotOut]:
    starts = datetime.combine(day, datetime.min.time(), tz)
    found = await free_slots(actor, service_id, starts, starts + timedelta(days=1), staff, public=True, moving=moving)
    return found.slots


def _contact_errors(texts: Texts, name: str, phone: str, email: str) -> dict[str, str]:
    errors = {}
    if not name or len(name) > 200:
        errors["name"] = texts.gettext("Please enter your name.")
    if not 3 <= len(phone) <= 32:
        errors["phone"] = texts.gettext("Please enter a valid phone number.")
    if len(email) > 254:
        errors["email"] = texts.gettext("Please enter a valid email address.")
    return errors


def _field_errors(texts: Texts, error: Invalid) -> tuple[dict[str, str], str | None]:
    """Inline messages by input name; answers' messages already come in the customer's language."""
    mine = {
        "customer.name": ("name", N_("Please enter your name.")),
        "customer.phone": ("phone", N_("Please enter a valid phone number.")),
        "customer.email": ("email", N_("Please enter a valid email address.")),
    }
    inline: dict[str, str] = {}
    other: list[str] = []
    for key, message in error.fields.items():
        if key in mine:
            inline[mine[key][0]] = texts.gettext(mine[key][1])
        elif key.startswith("answers."):
            inline[key] = message
        else:
            other.append(message)
    return inline, "; ".join(other) or None


def _problem(texts: Texts, error: AppError) -> str:
    """A readable message for an error that names no input."""
    known = {
        "slot_unavailable": N_("Sorry, that time has just been taken. Please choose another time."),
        "cutoff_passed": N_("It is too late to change this booking online. Please contact us."),
        "invalid_transition": N_("This booking can no longer be changed."),
        "already_answered": N_("Thank you, you have already answered this survey."),
        "survey_closed": N_("This survey has closed."),
    }
    if error.code in known:
        return texts.gettext(known[error.code])
    if isinstance(error, NotFound):
        return texts.gettext("We could not find this page. The link may be wrong or out of date.")
    return texts.gettext("Something went wrong: %(detail)s") % {"detail": error.detail}


async def _bookable(service_id: UUID) -> tuple[catalog_schemas.Service, catalog_schemas.Branch]:
    service = await catalog.get_bookable_service(service_id)
    return service, await catalog.get_bookable_branch(service.branch_id)


@dataclass(frozen=True)
class Picker:
    """The date picker's month and the free times of the chosen day, in the branch's zone."""

    month: Month
    slots: list[booking_schemas.SlotOut]


async def _picker(
    request: AnyRequest, service_id: UUID, tz: ZoneInfo, month: date | None, day: date | None, staff: UUID | None,
    *, moving: UUID | None = None,
) -> Picker:
    """`moving`: the booking being rescheduled, whose own time counts as free."""
    actor = actor_of(request)
    today = utc_now().astimezone(tz).date()
    month, day = (d if d and in_reach(d) else None for d in (month, day))  # a hand-made address: today's month
    slots = await _slots(actor, service_id, day, tz, staff, moving) if day else []
    return Picker(month=await _month(actor, service_id, month or day, today, moving), slots=slots)


def _error_page(request: AnyRequest, error: AppError) -> Template:
    return _message_page(request, _problem(texts_for(request), error), error.status)


def _message_page(request: AnyRequest, message: str, status: int) -> Template:
    return page(request, "portal/error.html", {"problem": message}, status=status, headers=PRIVATE)


class PortalPages(Controller):
    """HTML pages of the public portal. POSTs are checked by origin (the CSRF middleware's check for
    requests without a session); they act as the customer, never as a signed-in staff session, so the
    session's synchronizer token does not apply (`csrf_exempt`)."""

    path = "/portal"
    opt = {**PUBLIC, "rate_limited": "portal"}
    exception_handlers = {**unexpected_failure_handlers(_message_page), AppError: _error_page}
    include_in_schema = False

    @get("/")
    async def branches(self, request: AnyRequest) -> Template:
        return page(request, "portal/branches.html", {"branches": await catalog.list_bookable_branches()})

    @get("/branches/{branch_id:uuid}")
    async def services(self, request: AnyRequest, branch_id: FromPath[UUID]) -> Template:
        try:
            branch = await catalog.get_bookable_branch(branch_id)
        except NotFound as error:
            return _error_page(request, error)
        services = await catalog.list_bookable_services(branch_id)
        return page(request, "portal/services.html", {"branch": branch, "services": services})

    @get("/services/{service_id:uuid}")
    async def when(
        self, request: AnyRequest, service_id: FromPath[UUID], staff: FromQuery[UUID | None] = None,
        month: FromQuery[date | None] = None, day: FromQuery[date | None] = None,
    ) -> Template:
        """Staff (when the service lets customers choose), then a month of days with free ones marked,
        then the free times of the chosen day."""
        try:
            service, branch = await _bookable(service_id)
        except NotFound as error:
            return _error_page(request, error)
        people = await catalog.list_choosable_staff(service)
        chosen = next((p for p in people if p.id == staff), None)
        picker = await _picker(request, service.id, ZoneInfo(branch.timezone), month, day, chosen.id if chosen else None)
        return page(request, "portal/when.html", {
            "branch": branch, "service": service, "people": people, "chosen": chosen, "month": picker.month,
            "day": day, "slots": picker.slots, "tz": branch.timezone,
        })

    @get("/services/{service_id:uuid}/book")
    async def details(
        self, request: AnyRequest, service_id: FromPath[UUID], start: FromQuery[datetime],
        staff: FromQuery[UUID | None] = None,
    ) -> Template:
        try:
            service, branch = await _bookable(service_id)
        except NotFound as error:
            return _error_page(request, error)
        return await _details_page(request, service, branch, start, staff, values={}, errors={}, problem=None)

    @post("/services/{service_id:uuid}/book", opt={"csrf_exempt": True})
    async def book(self, request: AnyRequest, service_id: FromPath[UUID]) -> Template | Redirect:
        texts = texts_for(request)
        form = await request.form()
        try:
            service, branch = await _bookable(service_id)
            start = msgspec.convert(str(form.get("start", "")), booking_schemas.Instant, strict=False)
            staff = UUID(str(form["staff"])) if form.get("staff") else None
        except (NotFound, msgspec.ValidationError, ValueError):
            return _error_page(request, NotFound("no such slot"))
        fields = await _service_questions(service.id)
        values = {k: str(v) for k, v in form.items()}
        name, phone, email = (str(form.get(k, "")).strip() for k in ("name", "phone", "email"))
        if errors := _contact_errors(texts, name, phone, email):
            return await _details_page(request, service, branch, start, staff, values=values, errors=errors, problem=None, status=422)
        data = booking_schemas.PortalBookingCreate(
            service_id=service.id, starts_at=start, customer=CustomerContact(name=name, phone=phone, email=email or None),
            resource_ids=[staff] if staff else [], answers=answers_from_form(fields, form),
        )
        actor = public_actor_of(request)
        new = actions.NewBooking(
            service_id=data.service_id, starts_at=data.starts_at, customer=data.customer, channel="web",
            resource_ids=tuple(data.resource_ids), answers=data.answers, seats=data.seats, locale=texts.locale,
        )
        try:
            idem = idempotency_key(caller_scope(actor), str(form.get("idempotency_key", "")) or None, data)
            created = await actions.create_booking(new, actor=actor, staff=False, idempotency=idem)
        except Invalid as error:
            inline, problem = _field_errors(texts, error)
            return await _details_page(request, service, branch, start, staff, values=values, errors=inline, problem=problem, status=422)
        except AppError as error:
            return await _details_page(
                request, service, branch, start, staff, values=values, errors={}, problem=_problem(texts, error), status=error.status,
            )
        links = Links(request.query_params.get("embed") == "1" or form.get("embed") == "1")
        return Redirect(links(f"/portal/bookings/{created.manage_token}", new=1), status_code=HTTP_303_SEE_OTHER)

    @get("/bookings/{token:str}")
    async def manage(
        self, request: AnyRequest, token: FromPath[str], new: FromQuery[int] = 0,
        month: FromQuery[date | None] = None, day: FromQuery[date | None] = None, done: FromQuery[str | None] = None,
        staff: FromQuery[str | None] = None,
    ) -> Template:
        return await _manage_page(
            request, token, new=bool(new), month=month, day=day, staff=staff, done=done, problem=None
        )

    @post("/bookings/{token:str}/cancel", opt={"csrf_exempt": True})
    async def cancel(self, request: AnyRequest, token: FromPath[str]) -> Template | Redirect:
        actor = actor_of(request)
        form = await request.form()
        try:
            await actions.cancel_by_customer(token, ip=actor.ip, request_id=actor.request_id)
        except AppError as error:
            return await _manage_page(request, token, problem=_problem(texts_for(request), error), status=error.status)
        links = Links(form.get("embed") == "1")
        return Redirect(links(f"/portal/bookings/{token}", done="cancelled"), status_code=HTTP_303_SEE_OTHER)

    @post("/bookings/{token:str}/reschedule", opt={"csrf_exempt": True})
    async def reschedule(self, request: AnyRequest, token: FromPath[str]) -> Template | Redirect:
        actor = actor_of(request)
        form = await request.form()
        try:
            start = msgspec.convert(str(form.get("start", "")), booking_schemas.Instant, strict=False)
            staff = tuple(UUID(str(v)) for v in form.getall("staff", []) if v)
        except (msgspec.ValidationError, ValueError):
            return await _manage_page(request, token, problem=texts_for(request).gettext("Please choose a time."), status=422)
        try:
            await actions.reschedule_by_customer(token, start, staff, ip=actor.ip, request_id=actor.request_id)
        except AppError as error:
            return await _manage_page(request, token, problem=_problem(texts_for(request), error), status=error.status)
        links = Links(form.get("embed") == "1")
        return Redirect(links(f"/portal/bookings/{token}", done="rescheduled"), status_code=HTTP_303_SEE_OTHER)

    @get("/bookings/{token:str}/booking.ics")
    async def ics(self, request: AnyRequest, token: FromPath[str]) -> Response[bytes]:
        booking = await actions.portal_view(token)
        branch = await catalog.get_public_branch(booking.branch_id)
        # APPLIANCE_PUBLIC_URL, as in messages: behind a TLS proxy the request's own base is plain http.
        manage_url = public_url() + f"/portal/bookings/{token}"
        return Response(
            booking_calendar(booking, branch, manage_url=manage_url), media_type="text/calendar; charset=utf-8",
            headers={**PRIVATE, "Content-Disposition": 'attachment; filename="booking.ics"'},
        )

    @get("/survey/{token:str}")
    async def survey(self, request: AnyRequest, token: FromPath[str], done: FromQuery[int] = 0) -> Template:
        try:
            found = await surveys.survey(token)
        except AppError as error:
            return _error_page(request, error)
        return page(request, "portal/survey.html", {"survey": found, "token": token, "errors": {}, "problem": None,
                                                    "values": {}, "done": bool(done)}, headers=PRIVATE)

    @post("/survey/{token:str}", opt={"csrf_exempt": True})
    async def answer(self, request: AnyRequest, token: FromPath[str]) -> Template | Redirect:
        texts = texts_for(request)
        actor = actor_of(request)
        form = await request.form()
        values = {k: str(v) for k, v in form.items()}
        try:
            found = await surveys.survey(token)
        except AppError as error:
            return _error_page(request, error)
        try:
            data = msgspec.convert({"rating": int(values.get("rating", "0") or 0), "comment": values.get("comment", "")}, SurveyAnswerCreate)
        except (msgspec.ValidationError, ValueError):
            return page(request, "portal/survey.html", {
                "survey": found, "token": token, "values": values, "problem": None, "done": False,
                "errors": {"rating": texts.gettext("Please choose a rating from 1 to 5.")},
            }, status=422, headers=PRIVATE)
        try:
            await surveys.answer_survey(token, data, ip=actor.ip, request_id=actor.request_id)
        except AppError as error:
            return page(request, "portal/survey.html", {
                "survey": found, "token": token, "values": values, "errors": {}, "done": False, "problem": _problem(texts, error),
            }, status=error.status, headers=PRIVATE)
        return Redirect(Links(form.get("embed") == "1")(f"/portal/survey/{token}", done=1), status_code=HTTP_303_SEE_OTHER)


async def _service_questions(service_id: UUID) -> list[FieldDef]:
    """The booking questions of the service's current form (none without one)."""
    form = await current_form(attachment("service", service_id))
    return await form_fields(form) if form else []


def _shown_when(question: FieldDef, fields: list[FieldDef]) -> dict[str, Any] | None:
    """The question's `visible_if` for the page's script (static/portal/visible-if.js), its values normalised
    as the server compares answers; the server still decides what is asked when the form is posted."""
    rule = question.visible_if
    if rule is None:
        return None
    controller = next(f for f in fields if f.key == rule.field)
    return {
        "field": rule.field, "op": rule.op, "value": rule.value, "kind": controller.type,
        "expected": expected_answers(rule, controller),
    }


async def _details_page(
    request: AnyRequest, service: catalog_schemas.Service, branch: catalog_schemas.Branch, start: datetime,
    staff: UUID | None, *, values: dict[str, str], errors: dict[str, str], problem: str | None, status: int = 200,
) -> Template:
    texts = texts_for(request)
    fields = await _service_questions(service.id)
    questions = [
        {"field": f, "label": pick(f.label, texts.locale), "help": pick(f.help, texts.locale) if f.help else "",
         "options": [(o.value, pick(o.label, texts.locale)) for o in f.options], "visible_if": _shown_when(f, fields)}
        for f in fields
    ]
    return page(request, "portal/details.html", {
        "branch": branch, "service": service, "start": start, "staff": staff, "questions": questions,
        "values": values, "errors": errors, "problem": problem, "tz": branch.timezone,
        "idempotency_key": values.get("idempotency_key") or uuid4().hex,
    }, status=status)


ANY_STAFF = "any"  # the manage page's staff filter: whoever is free, not the booking's own staff member


def _staff_to_keep(
    people: list[catalog_schemas.Resource], asked: str | None, holding: list[UUID]
) -> catalog_schemas.Resource | None:
    """Whom a new time is found with: the person asked for, or "any"; unasked, the staff member the booking
    has now, so a customer who chose someone keeps them unless they choose otherwise."""
    if asked == ANY_STAFF:
        return None
    if asked is not None:
        return next((p for p in people if str(p.id) == asked), None)
    return next((p for p in people if p.id in holding), None)


async def _manage_page(
    request: AnyRequest, token: str, *, new: bool = False, month: date | None = None, day: date | None = None,
    staff: str | None = None, done: str | None = None, problem: str | None, status: int = 200,
) -> Template:
    try:
        booking = await actions.portal_view(token)
        branch = await catalog.get_public_branch(booking.branch_id)
    except AppError as error:
        return _error_page(request, error)
    tz = ZoneInfo(branch.timezone)
    picking = booking.can_reschedule and (month is not None or day is not None)
    people = await catalog.choosable_staff_of(booking.service_id) if picking else []
    chosen = _staff_to_keep(people, staff, (await resource_ids_of([booking.id]))[booking.id]) if people else None
    picker = await _picker(
        request, booking.service_id, tz, month, day, chosen.id if chosen else None, moving=booking.id
    ) if picking else None
    return page(request, "portal/manage.html", {
        "people": people, "chosen": chosen, "any_staff": ANY_STAFF,
        "booking": booking, "branch": branch, "token": token, "new": new, "month": picker.month if picker else None,
        "day": day, "slots": [s for s in picker.slots if s.starts_at != booking.starts_at] if picker else [], "done": done,
        "problem": problem, "tz": branch.timezone,
        "booking_day": max(booking.starts_at.astimezone(tz).date(), utc_now().astimezone(tz).date()),
    }, status=status, headers=PRIVATE)

