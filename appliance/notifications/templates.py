"""Message templates: Jinja2 in a sandbox (no attribute tricks, no file access), strict about unknown
variables so a typo fails the preview instead of sending "Dear ,". Pure: no I/O.

The variables, for every template: customer.name; booking.id, .status, .date, .time, .weekday,
.starts_at, .ends_at (local, "2026-12-03 10:00"), .seats, .price ("¥198.00"); service.name; branch.name; and for survey_invitation survey.url.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

DEFAULT_LOCALE: Final = "zh-CN"
LOCALES: Final = ("zh-CN", "en")

_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class TemplateProblem(Exception):
    """A template that does not render: a syntax error or an unknown variable, with where."""


def render(template: Template, variables: Mapping[str, Any]) -> Rendered:
    try:
        subject = _environment.from_string(template.subject).render(variables)
        body = _environment.from_string(template.body).render(variables)
    except TemplateError as exc:
        lineno = getattr(exc, "lineno", None)  # syntax errors know their line
        line = f" (line {lineno})" if lineno else ""
        raise TemplateProblem(f"{exc.message or type(exc).__name__}{line}") from exc
    return Rendered(" ".join(subject.split()), body)


# Built-in templates by (key, channel, locale); editing them through the API comes with the admin UI.
DEFAULTS: Final[Mapping[tuple[str, str, str], Template]] = {
    ("booking_confirmation", "email", "zh-CN"): Template(
        "预约确认：{{ service.name }} {{ booking.date }} {{ booking.time }}",
        "{{ customer.name }}，您好：\n\n您已预约{{ branch.name }}的{{ service.name }}，"
        "时间 {{ booking.starts_at }} 至 {{ booking.ends_at }}。\n\n期待您的光临。\n{{ branch.name }}\n",
    ),
    ("booking_confirmation", "email", "en"): Template(
        "Booking confirmed: {{ service.name }} on {{ booking.date }} at {{ booking.time }}",
        "Hello {{ customer.name }},\n\nyour {{ service.name }} at {{ branch.name }} is booked from "
        "{{ booking.starts_at }} to {{ booking.ends_at }}.\n\nSee you soon,\n{{ branch.name }}\n",
    ),
    ("booking_reminder", "email", "zh-CN"): Template(
        "预约提醒：明天 {{ booking.time }} {{ service.name }}",
        "{{ customer.name }}，您好：\n\n提醒您，您预约的{{ service.name }}将于 {{ booking.starts_at }} 开始，"
        "地点：{{ branch.name }}。\n",
    ),
    ("booking_reminder", "email", "en"): Template(
        "Reminder: {{ service.name }} tomorrow at {{ booking.time }}",
        "Hello {{ customer.name }},\n\na reminder that your {{ service.name }} starts at {{ booking.starts_at }} "
        "at {{ branch.name }}.\n",
    ),
    ("survey_invitation", "email", "zh-CN"): Template(
        "{{ service.name }}体验如何？",
        "{{ customer.name }}，您好：\n\n感谢您光临{{ branch.name }}。请花一分钟为本次{{ service.name }}打分：\n"
        "{{ survey.url }}\n",
    ),
    ("survey_invitation", "email", "en"): Template(
        "How was your {{ service.name }}?",
        "Hello {{ customer.name }},\n\nthank you for visiting {{ branch.name }}. Please rate your "
        "{{ service.name }}, it takes a minute:\n{{ survey.url }}\n",
    ),
    ("payment_reminder", "email", "zh-CN"): Template(
        "付款提醒：{{ service.name }} {{ booking.price }}",
        "{{ customer.name }}，您好：\n\n您于 {{ booking.date }} 的{{ service.name }}尚有 {{ booking.price }} 未付款。\n",
    ),
    ("payment_reminder", "email", "en"): Template(
        "Payment reminder: {{ service.name }} {{ booking.price }}",
        "Hello {{ customer.name }},\n\n{{ booking.price }} for your {{ service.name }} on {{ booking.date }} "
        "is still to be paid.\n",
    ),
}


def template_for(key: str, channel: str, locale: str) -> Template | None:
    """The template in the locale asked for, else in the default locale, else in any locale."""
    for candidate in (locale, DEFAULT_LOCALE, *LOCALES):
        if (found := DEFAULTS.get((key, channel, candidate))) is not None:
            return found
    return None


def template_keys(channel: str) -> list[str]:
    return sorted({key for key, on, _ in DEFAULTS if on == channel})
