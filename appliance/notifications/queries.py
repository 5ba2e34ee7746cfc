"""Reads: what a template may show about a booking, who a message reaches, the templates in use, and
customers' opt-outs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.auth.tables import RoleGrant, User
from appliance.bookings.queries import get_booking_row
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.schemas import WEEKDAYS
from appliance.core.db import uuid_value
from appliance.core.errors import Invalid, NotFound
from appliance.customers.queries import refused, refused_purposes
from appliance.customers.sealing import opened_customer
from appliance.customers.tables import Customer
from appliance.notifications import schemas
from appliance.notifications.catalogue import CHANNELS, KEYS
from appliance.notifications.channels import public_url
from appliance.notifications.consent import UNSUBSCRIBE_PATH
from appliance.notifications.tables import MessageTemplate
from appliance.notifications.templates import (
    DEFAULTS, Combination, Template, TemplateProblem, combination_problems, render_text, template_for, template_problems,
)
from appliance.surveys.actions import SURVEY_PATH

_CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$"}


def _money(amount: int, currency: str) -> str:
    return f"{_CURRENCY_SIGNS.get(currency, currency + ' ')}{amount // 100}.{amount % 100:02d}"


@dataclass(frozen=True)
class BookingFacts:
    """A booking as messages need it: its template variables, where it happens, how to reach the customer."""

    variables: dict[str, Any]
    branch_id: UUID
    zone: ZoneInfo
    customer_id: UUID | None
    email: str | None
    phone: str | None


async def booking_facts(booking_id: UUID) -> BookingFacts:
    """The booking's template variables (times in its branch's zone) and the customer's addresses."""
    row = await Booking.select(
        *Booking.all_columns(), Booking.branch.name, Booking.branch.timezone, Booking.service.name,
    ).where(Booking.id == booking_id).first()
    if row is None:
        raise NotFound("no such booking")
    # Opened here, when a message is about to be sent: the recipient's addresses are sealed at rest.
    stored = await Customer.select(Customer.id, Customer.name, Customer.email, Customer.phone).where(
        Customer.id == row["customer"]
    ).first()
    customer = opened_customer(stored) if stored else None
    zone = ZoneInfo(row["branch.timezone"])
    starts, ends = row["starts_at"].astimezone(zone), row["ends_at"].astimezone(zone)
    variables = {
        "customer": {"name": customer["name"] if customer else ""},
        "booking": {
            "id": str(row["id"]), "status": row["status"], "date": starts.strftime("%Y-%m-%d"),
            "time": starts.strftime("%H:%M"), "weekday": WEEKDAYS[starts.weekday()],
            "starts_at": starts.strftime("%Y-%m-%d %H:%M"), "ends_at": ends.strftime("%Y-%m-%d %H:%M"),
            "seats": row["seats"], "price": _money(row["price_amount"], row["price_currency"]),
        },
        "service": {"name": row["service.name"]},
        "branch": {"name": row["branch.name"]},
    }
    return BookingFacts(
        variables, uuid_value(row["branch"]), zone, uuid_value(row["customer"]) if row["customer"] else None,
        customer["email"] if customer else None, customer["phone"] if customer else None,
    )


async def staff_recipients(booking_id: UUID, branch_id: UUID, recipient: str) -> list[UUID]:
    """The active users a staff message reaches: the staff resources the booking holds that are linked
    to a user (`assigned_staff`), or everyone holding the role in the booking's branch (`role:<role>`)."""
    if recipient == "assigned_staff":
        rows = await Allocation.select(Allocation.resource.user.as_alias("user")).where(
            (Allocation.booking == booking_id) & (Allocation.resource.kind == "staff") & Allocation.resource.user.is_not_null()
        )
    elif recipient.startswith("role:"):
        rows = await RoleGrant.select(RoleGrant.user.as_alias("user")).where(
            (RoleGrant.role == recipient.removeprefix("role:")) & ((RoleGrant.branch == branch_id) | RoleGrant.branch.is_null())
        )
    else:
        return []
    candidates = list({uuid_value(r["user"]) for r in rows})
    if not candidates:
        return []
    active = await User.select(User.id).where(User.id.is_in(candidates) & (User.active == True))  # noqa: E712
    return sorted(uuid_value(r["id"]) for r in active)


async def stored_templates() -> dict[Combination, Template]:
    """Every template staff edited (a few dozen at most), by (key, channel, locale)."""
    rows = await MessageTemplate.select(
        MessageTemplate.key, MessageTemplate.channel, MessageTemplate.locale, MessageTemplate.subject, MessageTemplate.body
    )
    return {(r["key"], r["channel"], r["locale"]): Template(r["subject"], r["body"]) for r in rows}


async def list_templates() -> list[schemas.NotificationTemplate]:
    """Every built-in or edited template, each with the variables it may use."""
    rows = await MessageTemplate.select()
    stored = {(r["key"], r["channel"], r["locale"]): r for r in rows}
    listed = []
    for combination in sorted(set(DEFAULTS) | set(stored)):
        key, channel, locale = combination
        spec, row, built_in = KEYS[key], stored.get(combination), DEFAULTS.get(combination)
        current = Template(row["subject"], row["body"]) if row else built_in
        assert current is not None
        listed.append(schemas.NotificationTemplate(
            key=key, channel=channel, locale=locale, subject=current.subject, body=current.body,
            source="edited" if row else "built_in", has_built_in=built_in is not None, audience=spec.audience,
            urgent=spec.urgent, description=spec.description, variables=spec.variables(),
            revision=row["revision"] if row else 0, updated_at=row["updated_at"] if row else None,
        ))
    return listed


async def get_template(key: str, channel: str, locale: str) -> schemas.NotificationTemplate:
    for found in await list_templates():
        if (found.key, found.channel, found.locale) == (key, channel, locale):
            return found
    raise NotFound(f"no template {key} for {channel} in {locale}")


async def opted_out(customer_id: UUID, channel: str) -> bool:
    """An opt-out is the customer's refusal of the channel in their consent (customers, the one record)."""
    return await refused(customer_id, channel)


async def opt_outs(customer_id: UUID) -> schemas.OptOuts:
    return schemas.OptOuts(customer_id=customer_id, channels=[p for p in await refused_purposes(customer_id) if p in CHANNELS])


async def preview_template(data: schemas.TemplatePreview, *, actor: Actor) -> schemas.RenderedPreview:
    """A template (the one in use, or a draft) rendered against a real booking. Links in it are
    placeholders: a preview makes no survey invitation. Changes nothing."""
    if problems := combination_problems(data.key, data.channel, data.locale):
        raise Invalid(problems)
    await get_booking_row(data.booking_id, actor=actor, permission=Permission.automation_read)  # 404 outside reach
    facts = await booking_facts(data.booking_id)
    variables = {**facts.variables, **{
        group: {"url": f"{public_url()}{path.format(token='preview')}"}
        for group, path in (("survey", SURVEY_PATH), ("unsubscribe", UNSUBSCRIBE_PATH))
        if f"{group}.url" in KEYS[data.key].variables()
    }}
    source: Literal["draft", "built_in", "edited"]
    if data.subject is not None or data.body is not None:
        template, source = Template(data.subject or "", data.body or ""), "draft"
        if problems := template_problems(data.key, data.channel, template):
            raise Invalid(problems)
    else:
        stored = await stored_templates()
        found = template_for(data.key, data.channel, data.locale, stored)
        if found is None:
            raise Invalid({"key": f"no template {data.key} for {data.channel} yet: give a draft subject and body"})
        template, source = found, "edited" if found in stored.values() else "built_in"
    rendered: dict[str, str] = {}
    for name in ("subject", "body"):
        try:
            rendered[name] = render_text(getattr(template, name), variables)
        except TemplateProblem as exc:
            raise Invalid({name: str(exc)}) from exc
    return schemas.RenderedPreview(subject=" ".join(rendered["subject"].split()), body=rendered["body"], source=source)
