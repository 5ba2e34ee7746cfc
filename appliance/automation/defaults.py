"""The rules a new appliance starts with (confirmation, reminder, survey, awaiting payment, payment
reminder); staff edit or disable them like any other. Installed on the
first start of `appliance up`, or by `appliance rules install-defaults` (which skips any already there,
by name)."""

from __future__ import annotations

from appliance.auth.actor import Actor
from appliance.automation.actions import create_rule
from appliance.automation.schemas import RuleCreate
from appliance.automation.tables import Rule


def _notify(template: str) -> dict[str, str]:
    return {"type": "notify", "channel": "email", "template": template, "recipient": "customer"}


DEFAULT_RULES = (
    RuleCreate(
        name="预约确认 · Booking confirmation", trigger={"event": "booking.created"},
        description="Emails the customer when a booking is made.", actions=[_notify("booking_confirmation")],
    ),
    RuleCreate(
        name="提前24小时提醒 · Reminder 24 h before", trigger={"timer": {"anchor": "starts_at", "offset_minutes": -1440}},
        description="Reminds the customer a day ahead; moves with a reschedule, never fires for a cancelled booking.",
        conditions={"all": [{"field": "booking.status", "op": "in", "value": ["confirmed", "pending_approval"]}]},
        actions=[_notify("booking_reminder")],
    ),
    RuleCreate(
        name="满意度调查 · Survey 2 h after completion",
        trigger={"timer": {"anchor": "completed_at", "offset_minutes": 120}},
        description="Asks the customer to rate the visit (1–5 stars and a comment), once per booking.",
        conditions={"all": [{"field": "booking.status", "op": "eq", "value": "completed"}]},
        actions=[_notify("survey_invitation")],
    ),
    RuleCreate(
        name="完成后待付款 · Awaiting payment on completion", trigger={"event": "booking.completed"},
        description="A completed booking that is not paid yet waits for payment.",
        conditions={"all": [
            {"field": "booking.payment_status", "op": "eq", "value": "unpaid"},
            {"field": "booking.price_amount", "op": "gt", "value": 0},
        ]},
        actions=[{"type": "set_payment_status", "payment_status": "awaiting_payment"}],
    ),
    RuleCreate(
        name="付款提醒 · Payment reminder 24 h later",
        trigger={"timer": {"anchor": "awaiting_payment_at", "offset_minutes": 1440}},
        description="Reminds the customer a day after payment became due, unless paid meanwhile.",
        conditions={"all": [{"field": "booking.payment_status", "op": "eq", "value": "awaiting_payment"}]},
        actions=[_notify("payment_reminder")],
    ),
)


async def install_default_rules(*, actor: Actor) -> list[str]:
    """Create the default rules not present yet (by name); returns the names created."""
    existing = {r["name"] for r in await Rule.select(Rule.name)}
    created = []
    for rule in DEFAULT_RULES:
        if rule.name not in existing:
            await create_rule(rule, actor=actor)
            created.append(rule.name)
    return created
