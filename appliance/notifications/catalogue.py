"""What each template is for and which variables it may use: the documented contract between the
appliance and whoever edits a template. Pure: no I/O.

docs/notifications.md shows the same catalogue to people; a test keeps the two in step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Audience = Literal["customer", "staff"]

CHANNELS: Final = ("email", "inbox", "sms", "wecom", "dingtalk")
# Channels that reach customers, and those that reach staff (plugins map a user to its WeCom/DingTalk id).
CUSTOMER_CHANNELS: Final = ("email", "sms")
STAFF_CHANNELS: Final = ("inbox", "wecom", "dingtalk")
# Channels whose messages have a subject line; the others send the body alone.
WITH_SUBJECT: Final = ("email", "inbox")

# Every template may use these (times are local to the booking's branch).
BOOKING_VARIABLES: Final[Mapping[str, str]] = {
    "customer.name": "the customer's name",
    "booking.id": "the booking's id",
    "booking.status": "pending_approval, confirmed, checked_in, completed, cancelled, no_show or rejected",
    "booking.date": 'the start date, "2026-12-03"',
    "booking.time": 'the start time, "14:30"',
    "booking.weekday": "mon … sun",
    "booking.starts_at": 'start, "2026-12-03 14:30"',
    "booking.ends_at": 'end, "2026-12-03 15:30"',
    "booking.seats": "seats booked (1 unless a group class)",
    "booking.price": 'the price with its currency sign, "¥198.00"',
    "service.name": "the service booked",
    "branch.name": "the branch",
}
UNSUBSCRIBE_VARIABLE: Final = {"unsubscribe.url": "a link that stops messages on this channel (customer messages)"}


@dataclass(frozen=True)
class TemplateKey:
    key: str
    audience: Audience
    urgent: bool  # urgent customer messages are sent in quiet hours too
    description: str
    extra: Mapping[str, str] = field(default_factory=dict)  # variables of this key alone

    def variables(self) -> dict[str, str]:
        return {**BOOKING_VARIABLES, **self.extra, **(UNSUBSCRIBE_VARIABLE if self.audience == "customer" else {})}


KEYS: Final[Mapping[str, TemplateKey]] = {k.key: k for k in (
    # The reply to the customer's own booking: expected at once, even at night.
    TemplateKey("booking_confirmation", "customer", True, "a booking was made"),
    TemplateKey("booking_reminder", "customer", False, "a booking starts soon"),
    TemplateKey("survey_invitation", "customer", False, "asks for a rating after a visit",
                {"survey.url": "the rating page, a fresh link per message"}),
    TemplateKey("payment_reminder", "customer", False, "a completed booking is still unpaid"),
    TemplateKey("staff_booking_notice", "staff", True, "tells staff about a booking they serve or oversee"),
)}


def template_keys(channel: str) -> list[str]:
    """The keys a message on `channel` may use: the audience must be one the channel reaches."""
    audience = "customer" if channel in CUSTOMER_CHANNELS else "staff" if channel in STAFF_CHANNELS else None
    return sorted(k.key for k in KEYS.values() if k.audience == audience)


def notify_problems(channel: str, recipient: str, template: str) -> dict[str, str]:
    """What a rule's notify action cannot do, by parameter: a channel that does not reach the recipient,
    or a template not meant for that audience. (For `automation.logic`, in place of its email-only check.)"""
    audience = "customer" if recipient == "customer" else "staff"
    reaching = CUSTOMER_CHANNELS if audience == "customer" else STAFF_CHANNELS
    if channel not in reaching:
        return {"channel": f"{channel} does not reach {recipient}; use one of: {', '.join(reaching)}"}
    if template not in (keys := template_keys(channel)):
        return {"template": f"no such template for {audience}s; one of: {', '.join(keys)}"}
    return {}


def sample_variables(key: str) -> dict[str, Any]:
    """Made-up values of every variable `key` may use: a template is tried against them on save."""
    values: dict[str, Any] = {}
    for name in KEYS[key].variables():
        group, _, leaf = name.partition(".")
        values.setdefault(group, {})[leaf] = SAMPLES.get(name, f"<{name}>")
    return values


SAMPLES: Final[Mapping[str, Any]] = {
    "customer.name": "韩梅梅", "booking.id": "00000000-0000-4000-8000-000000000000", "booking.status": "confirmed",
    "booking.date": "2026-12-03", "booking.time": "14:30", "booking.weekday": "thu",
    "booking.starts_at": "2026-12-03 14:30", "booking.ends_at": "2026-12-03 15:30", "booking.seats": 1,
    "booking.price": "¥198.00", "service.name": "精油按摩", "branch.name": "静安店",
    "survey.url": "https://booking.example.com/portal/survey/sample",
    "unsubscribe.url": "https://booking.example.com/portal/unsubscribe/sample",
}
