"""JSON API: availability, bookings and their transitions (staff), and the public customer portal."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from appliance.auth.api import AnyRequest, actor_of, public_actor_of
from appliance.auth.guards import PUBLIC, requires
from appliance.auth.roles import Permission
from appliance.bookings import actions, queries, schemas
from appliance.bookings.availability import free_days, free_slots
from appliance.bookings.idempotency import caller_scope, idempotency_key
from appliance.bookings.reveals import record_booking_viewed, record_bookings_listed
from appliance.bookings.states import PaymentStatus, Status
from appliance.core.pagination import (
    DEFAULT_LIMIT, Page, aware_instant, check_limit, decode_instant_cursor, encode_instant_cursor,
)
from appliance.forms.messages import locale_from

IdempotencyHeader = Annotated[str | None, Parameter(header="Idempotency-Key")]


class AvailabilityController(Controller):
    path = "/api/v1/availability"
    tags = ["bookings"]

    @get("/", opt=requires(Permission.bookings_read))
    async def slots(
        self, request: AnyRequest, service_id: FromQuery[UUID],
        from_: Annotated[datetime, Parameter(query="from")], to: FromQuery[datetime],
        branch_id: FromQuery[UUID | None] = None, resource_id: FromQuery[UUID | None] = None,
    ) -> schemas.Availability:
        """Free slots of a service between two instants, with the resources each would use and why them;
        `resource_id` is a preferred resource every slot then uses, `branch_id` a branch to keep to."""
        return await free_slots(
            actor_of(request), service_id, _aware(from_, "from"), _aware(to, "to"), resource_id, public=False,
            branch_id=branch_id,
        )

    @get("/days", opt=requires(Permission.bookings_read))
    async def days(
        self, request: AnyRequest, service_id: FromQuery[UUID],
        from_: Annotated[date, Parameter(query="from")], to: FromQuery[date],
        branch_id: FromQuery[UUID | None] = None, resource_id: FromQuery[UUID | None] = None,
    ) -> schemas.AvailableDays:
        """The branch-local dates that have at least one free slot (for calendar pickers); `resource_id` and
        `branch_id` keep to a resource and a branch as the slots do."""
        return await free_days(
            actor_of(request), service_id, from_, to, public=False, resource_id=resource_id, branch_id=branch_id
        )


def _aware(value: datetime, field: str) -> datetime:
    checked = aware_instant(field, value)
    assert checked is not None
    return checked




class BookingController(Controller):
    path = "/api/v1/bookings"
    tags = ["bookings"]

    @post("/", opt=requires(Permission.bookings_write), status_code=HTTP_201_CREATED)
    async def create(
        self, request: AnyRequest, data: JSONBody[schemas.BookingCreate], idempotency: IdempotencyHeader = None
    ) -> schemas.BookingCreated:
        """Book a slot for any customer, on any channel the service allows. 409 slot_unavailable
        carries the nearest alternatives."""
        actor = actor_of(request)
        new = actions.NewBooking(
            service_id=data.service_id, starts_at=data.starts_at, customer=data.customer, channel=data.channel,
            resource_ids=tuple(data.resource_ids), answers=data.answers, seats=data.seats, notes=data.notes,
            locale=locale_from(request.headers.get("accept-language")),
        )
        idem = idempotency_key(caller_scope(actor), idempotency, data)
        return await actions.create_booking(new, actor=actor, staff=True, idempotency=idem)

    @get("/", opt=requires(Permission.bookings_read))
    async def list(
        self, request: AnyRequest,
        from_: Annotated[datetime | None, Parameter(query="from")] = None, to: FromQuery[datetime | None] = None,
        branch_id: FromQuery[UUID | None] = None, status: FromQuery[Status | None] = None,
        resource_id: FromQuery[UUID | None] = None, customer_id: FromQuery[UUID | None] = None,
        channel: FromQuery[schemas.Channel | None] = None, cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[schemas.Booking]:
        filters = queries.BookingFilter(
            starts_from=_aware(from_, "from") if from_ else None, starts_before=_aware(to, "to") if to else None,
            branch_id=branch_id, status=status.value if status else None, resource_id=resource_id, customer_id=customer_id, channel=channel,
        )
        after = decode_instant_cursor(cursor)
        items, last = await queries.list_bookings(filters, actor=actor_of(request), after=after, limit=check_limit(limit))
        await record_bookings_listed(items, actor=actor_of(request))
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @get("/{booking_id:uuid}", opt=requires(Permission.bookings_read))
    async def get(self, request: AnyRequest, booking_id: FromPath[UUID]) -> schemas.Booking:
        """One booking. Audited when it holds form answers or notes (booking.viewed)."""
        booking = await queries.get_booking(booking_id, actor=actor_of(request))
        await record_booking_viewed(booking, actor=actor_of(request))
        return booking

    @post("/{booking_id:uuid}/reschedule", opt=requires(Permission.bookings_write), status_code=HTTP_200_OK)
    async def reschedule(
        self, request: AnyRequest, booking_id: FromPath[UUID], data: JSONBody[schemas.Reschedule]
    ) -> schemas.Booking:
        return await actions.reschedule_booking(
            booking_id, data.starts_at, actor=actor_of(request), resource_ids=tuple(data.resource_ids)
        )

    @post("/{booking_id:uuid}/reassign", opt=requires(Permission.bookings_write), status_code=HTTP_200_OK)
    async def reassign(
        self, request: AnyRequest, booking_id: FromPath[UUID], data: JSONBody[schemas.Reassign]
    ) -> schemas.Booking:
        """Give the booking another resource at the same time, in place of the one it can stand in for
        (409 slot_unavailable when it is not free, 422 when it fits no requirement)."""
        return await actions.reassign_resource(booking_id, data.resource_id, actor=actor_of(request), reason=data.reason)

    @post("/{booking_id:uuid}/payment-status", opt=requires(Permission.bookings_write), status_code=HTTP_200_OK)
    async def payment_status(
        self, request: AnyRequest, booking_id: FromPath[UUID], data: JSONBody[schemas.PaymentStatusBody]
    ) -> schemas.Booking:
        """Record where payment stands; audited and emitted as booking.payment_status_changed."""
        return await actions.set_payment_status(booking_id, PaymentStatus(data.payment_status), actor=actor_of(request))

    @post(
        "/{booking_id:uuid}/{transition:str}", opt=requires(Permission.bookings_write), status_code=HTTP_200_OK
    )
    async def transition(
        self, request: AnyRequest, booking_id: FromPath[UUID],
        transition: FromPath[Literal["confirm", "approve", "reject", "check-in", "complete", "no-show", "cancel"]],
        data: JSONBody[schemas.TransitionBody | None] = None,
    ) -> schemas.Booking:
        """Move the booking along its state machine; an illegal move is 409 invalid_transition."""
        reason = data.reason if data else ""
        return await actions.transition_booking(booking_id, transition, actor=actor_of(request), reason=reason)


class PortalController(Controller):
    """The customer's side: no login, rate-limited, channel web, and a manage token per booking."""

    path = "/api/v1/portal"
    tags = ["portal"]
    opt = {**PUBLIC, "rate_limited": "portal"}

    @get("/availability")
    async def availability(
        self, request: AnyRequest, service_id: FromQuery[UUID],
        from_: Annotated[datetime, Parameter(query="from")], to: FromQuery[datetime],
        resource_id: FromQuery[UUID | None] = None,
    ) -> schemas.Availability:
        return await free_slots(actor_of(request), service_id, _aware(from_, "from"), _aware(to, "to"), resource_id, public=True)

    @get("/availability/days")
    async def days(
        self, request: AnyRequest, service_id: FromQuery[UUID],
        from_: Annotated[date, Parameter(query="from")], to: FromQuery[date],
        resource_id: FromQuery[UUID | None] = None,
    ) -> schemas.AvailableDays:
        """The dates with a free slot; with `resource_id` (where customers choose), those of that staff member."""
        return await free_days(actor_of(request), service_id, from_, to, public=True, resource_id=resource_id)

    @post("/bookings", status_code=HTTP_201_CREATED)
    async def create(
        self, request: AnyRequest, data: JSONBody[schemas.PortalBookingCreate], idempotency: IdempotencyHeader = None
    ) -> schemas.BookingCreated:
        actor = public_actor_of(request)
        new = actions.NewBooking(
            service_id=data.service_id, starts_at=data.starts_at, customer=data.customer, channel="web",
            resource_ids=tuple(data.resource_ids), answers=data.answers, seats=data.seats,
            locale=locale_from(request.headers.get("accept-language")),
        )
        idem = idempotency_key(caller_scope(actor), idempotency, data)
        return await actions.create_booking(new, actor=actor, staff=False, idempotency=idem)

    @get("/bookings/{token:str}")
    async def view(self, token: FromPath[str]) -> schemas.PortalBooking:
        return await actions.portal_view(token)

    @post("/bookings/{token:str}/cancel", status_code=HTTP_200_OK)
    async def cancel(self, request: AnyRequest, token: FromPath[str]) -> schemas.PortalBooking:
        actor = actor_of(request)
        return await actions.cancel_by_customer(token, ip=actor.ip, request_id=actor.request_id)

    @post("/bookings/{token:str}/reschedule", status_code=HTTP_200_OK)
    async def reschedule(
        self, request: AnyRequest, token: FromPath[str], data: JSONBody[schemas.Reschedule]
    ) -> schemas.PortalBooking:
        actor = actor_of(request)
        return await actions.reschedule_by_customer(
            token, data.starts_at, tuple(data.resource_ids), ip=actor.ip, request_id=actor.request_id
        )
