"""Free slots and free days of a service, for staff and for the public portal (API and pages alike)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings import actions, queries, schemas
from appliance.bookings.logic import available_days, find_slots
from appliance.core.clock import utc_now
from appliance.core.errors import Invalid, NotFound

MAX_WINDOW = timedelta(days=62)


async def visible_service(actor: Actor, service_id: UUID, *, public: bool) -> queries.ServiceContext:
    """The service, if the caller may see its availability: staff in its branch, or anyone for an
    active service booked on the web."""
    ctx = await queries.load_service(service_id)
    if public:
        visible = ctx.active and (not ctx.channels or "web" in ctx.channels)
    else:
        visible = actor.can(Permission.bookings_read, ctx.branch_id)
    if not visible:
        raise NotFound("no such service")
    return ctx


async def free_slots(
    actor: Actor, service_id: UUID, starts: datetime, ends: datetime, resource_id: UUID | None, *, public: bool
) -> schemas.Availability:
    if ends <= starts:
        raise Invalid({"to": "must be after from"})
    if ends - starts > MAX_WINDOW:
        raise Invalid({"to": f"at most {MAX_WINDOW.days} days after from"})
    ctx = await visible_service(actor, service_id, public=public)
    if public and resource_id and not ctx.customer_picks_staff:
        raise Invalid({"resource_id": "this service does not let customers choose"})
    calendars, seats_taken = await queries.load_calendars(ctx.branch_id, starts, ends)
    required = frozenset({resource_id}) if resource_id else frozenset()
    if resource_id and resource_id not in {c.id for c in calendars}:
        raise Invalid({"resource_id": "no such active resource in this service's branch"})
    slots = find_slots(
        ctx.rules, calendars, tz=ctx.timezone, window_start=starts, window_end=ends, now=utc_now(),
        required=required, seats_taken=seats_taken,
    )
    return schemas.Availability(
        service_id=service_id, timezone=ctx.timezone.key, slots=[actions.slot_out(s) for s in slots]
    )


async def free_days(actor: Actor, service_id: UUID, first: date, last: date, *, public: bool) -> schemas.AvailableDays:
    if last < first:
        raise Invalid({"to": "must not be before from"})
    if (last - first) > MAX_WINDOW:
        raise Invalid({"to": f"at most {MAX_WINDOW.days} days after from"})
    ctx = await visible_service(actor, service_id, public=public)
    window_start = datetime.combine(first, datetime.min.time(), ctx.timezone)
    window_end = datetime.combine(last + timedelta(days=1), datetime.min.time(), ctx.timezone)
    calendars, seats_taken = await queries.load_calendars(ctx.branch_id, window_start, window_end)
    days = available_days(
        ctx.rules, calendars, tz=ctx.timezone, first_day=first, last_day=last, now=utc_now(), seats_taken=seats_taken
    )
    return schemas.AvailableDays(service_id=service_id, timezone=ctx.timezone.key, days=days)
