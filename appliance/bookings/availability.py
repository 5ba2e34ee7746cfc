"""Free slots and free days of a service, for staff and for the public portal (API and pages alike)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.bookings import actions, queries, schemas
from appliance.bookings.logic import ResourceCalendar, available_days, find_slots
from appliance.catalog.tables import Branch
from appliance.core.clock import check_in_reach, utc_now
from appliance.core.errors import Invalid, NotFound

MAX_WINDOW = timedelta(days=62)


async def visible_service(
    actor: Actor, service_id: UUID, *, public: bool, moving: bool = False
) -> queries.ServiceContext:
    """The service, if the caller may see its availability: staff in its branch, or anyone for an
    active service booked on the web, or a customer `moving` their booking of an active service at an open
    branch (on whatever channel it was booked). Staff asked for a service id they gave: a wrong one is a
    422 naming it; the public is told 404, as for a page that does not exist."""
    try:
        ctx = await queries.load_service(service_id)
    except NotFound:
        if public:
            raise
        raise Invalid({"service_id": "no such service"}) from None
    if public:
        if not (ctx.offered_online() or (moving and ctx.active and ctx.branch_active)):
            raise NotFound("no such service")
    elif not actor.can(Permission.bookings_read, ctx.branch_id):
        raise Invalid({"service_id": "no such service"})
    return ctx


async def _filtered_service(
    actor: Actor, service_id: UUID, resource_id: UUID | None, branch_id: UUID | None, *, public: bool,
    moving: bool = False,
) -> tuple[queries.ServiceContext, bool]:
    """The visible service, checked against the filters both modes take, and whether `branch_id` leaves it
    out: a service is offered in its own branch only, so another branch has nothing free for it (a filter,
    as on the booking list); an unknown branch is a 422, as is a resource the public may not choose."""
    ctx = await visible_service(actor, service_id, public=public, moving=moving)
    if public and resource_id and not ctx.customer_picks_staff:
        raise Invalid({"resource_id": "this service does not let customers choose"})
    if branch_id is None:
        return ctx, False
    if not (actor.can(Permission.bookings_read, branch_id) and await Branch.exists().where(Branch.id == branch_id)):
        raise Invalid({"branch_id": "no such branch"})
    return ctx, branch_id != ctx.branch_id


def _preferred(calendars: list[ResourceCalendar], resource_id: UUID | None) -> frozenset[UUID]:
    """The resource every slot must use, checked: one of the branch's active resources."""
    if resource_id is None:
        return frozenset()
    if resource_id not in {c.id for c in calendars}:
        raise Invalid({"resource_id": "no such active resource in this service's branch"})
    return frozenset({resource_id})


async def free_slots(
    actor: Actor, service_id: UUID, starts: datetime, ends: datetime, resource_id: UUID | None, *, public: bool,
    branch_id: UUID | None = None, moving: UUID | None = None,
) -> schemas.Availability:
    """`resource_id` a resource every slot must use; `branch_id` a branch to keep to (`_filtered_service`);
    `moving` a booking whose own allocations count as free (a reschedule may reuse its own time)."""
    check_in_reach(**{"from": starts, "to": ends})
    if ends <= starts:
        raise Invalid({"to": "must be after from"})
    if ends - starts > MAX_WINDOW:
        raise Invalid({"to": f"at most {MAX_WINDOW.days} days after from"})
    ctx, left_out = await _filtered_service(
        actor, service_id, resource_id, branch_id, public=public, moving=moving is not None
    )
    if left_out:
        return schemas.Availability(service_id=service_id, timezone=ctx.timezone.key, slots=[])
    calendars, seats_taken = await queries.load_calendars(
        ctx.branch_id, starts, ends, kinds=queries.kinds_needed(ctx.rules, [resource_id] if resource_id else ()),
        exclude_booking=moving,
    )
    slots = find_slots(
        ctx.rules, calendars, tz=ctx.timezone, window_start=starts, window_end=ends, now=utc_now(),
        required=_preferred(calendars, resource_id), seats_taken=seats_taken,
    )
    shown = [actions.public_slot_out(ctx, s) if public else actions.slot_out(s) for s in slots]
    return schemas.Availability(service_id=service_id, timezone=ctx.timezone.key, slots=shown)


async def free_days(
    actor: Actor, service_id: UUID, first: date, last: date, *, public: bool, resource_id: UUID | None = None,
    branch_id: UUID | None = None, moving: UUID | None = None,
) -> schemas.AvailableDays:
    """The dates with a free slot, kept to `resource_id` and `branch_id` as `free_slots` keeps its slots."""
    check_in_reach(**{"from": first, "to": last})
    if last < first:
        raise Invalid({"to": "must not be before from"})
    if (last - first) > MAX_WINDOW:
        raise Invalid({"to": f"at most {MAX_WINDOW.days} days after from"})
    ctx, left_out = await _filtered_service(
        actor, service_id, resource_id, branch_id, public=public, moving=moving is not None
    )
    if left_out:
        return schemas.AvailableDays(service_id=service_id, timezone=ctx.timezone.key, days=[])
    window_start = datetime.combine(first, datetime.min.time(), ctx.timezone)
    window_end = datetime.combine(last + timedelta(days=1), datetime.min.time(), ctx.timezone)
    calendars, seats_taken = await queries.load_calendars(
        ctx.branch_id, window_start, window_end,
        kinds=queries.kinds_needed(ctx.rules, [resource_id] if resource_id else ()), exclude_booking=moving,
    )
    days = available_days(
        ctx.rules, calendars, tz=ctx.timezone, first_day=first, last_day=last, now=utc_now(),
        required=_preferred(calendars, resource_id), seats_taken=seats_taken,
    )
    return schemas.AvailableDays(service_id=service_id, timezone=ctx.timezone.key, days=days)
