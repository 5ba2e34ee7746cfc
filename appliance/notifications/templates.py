"""Message templates: Jinja2 in a sandbox (no attribute tricks, no file access), strict about unknown
variables so a typo fails on save or in the preview instead of sending "Dear ,". Pure: no I/O.

Which variables each template may use is documented in `catalogue.py` (and docs/notifications.md).
Staff may replace a built-in template; the stored version is passed in as `stored`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from appliance.notifications.catalogue import KEYS, WITH_SUBJECT, sample_variables, template_keys

DEFAULT_LOCALE: Final = "zh-CN"
LOCALES: Final = ("zh-CN", "en")
LONGEST_SUBJECT: Final = 300
LONGEST_BODY: Final = 20_000

_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

Combination = tuple[str, str, str]  # (key, channel, locale)


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


def render_text(source: str, variables: Mapping[str, Any]) -> str:
    try:
        return _environment.from_string(source).render(variables)
    except TemplateError as exc:
        lineno = getattr(exc, "lineno", None)  # syntax errors know their line
        line = f" (line {lineno})" if lineno else ""
        raise TemplateProblem(f"{exc.message or type(exc).__name__}{line}") from exc


def render(template: Template, variables: Mapping[str, Any]) -> Rendered:
    subject = render_text(template.subject, variables)
    return Rendered(" ".join(subject.split()), render_text(template.body, variables))


def combination_problems(key: str, channel: str, locale: str) -> dict[str, str]:
    """Whether a template may exist for (key, channel, locale): a known key, on a channel reaching its
    audience, in a supported locale."""
    if key not in KEYS:
        return {"key": f"one of: {', '.join(sorted(KEYS))}"}
    if key not in template_keys(channel):
        return {"channel": f"{key} is for {KEYS[key].audience}s; this channel does not reach them"}
    if locale not in LOCALES:
        return {"locale": f"one of: {', '.join(LOCALES)}"}
    return {}


def template_problems(key: str, channel: str, template: Template) -> dict[str, str]:
    """What is wrong with a template staff wrote, by field: it must parse and render against sample
    values of exactly the variables documented for its key."""
    problems: dict[str, str] = {}
    if channel in WITH_SUBJECT and not template.subject.strip():
        problems["subject"] = f"messages on {channel} need a subject"
    if len(template.subject) > LONGEST_SUBJECT:
        problems["subject"] = f"at most {LONGEST_SUBJECT} characters"
    if not template.body.strip() or len(template.body) > LONGEST_BODY:
        problems["body"] = f"text of 1–{LONGEST_BODY} characters"
    samples = sample_variables(key)
    for name, source in (("subject", template.subject), ("body", template.body)):
        if name in problems:
            continue
        try:
            render_text(source, samples)
        except TemplateProblem as exc:
            problems[name] = f"{exc}; the variables of {key} are: {', '.join(KEYS[key].variables())}"
    return problems


# Built-in templates by (key, channel, locale); customer emails get an unsubscribe footer below.
_BUILT_IN: Final[Mapping[Combination, Template]] = {
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
    ("staff_booking_notice", "inbox", "zh-CN"): Template(
        "预约：{{ service.name }} {{ booking.starts_at }}",
        "{{ customer.name }} 预约了{{ branch.name }}的{{ service.name }}，{{ booking.starts_at }} 至 "
        "{{ booking.ends_at }}，状态：{{ booking.status }}。\n",
    ),
    ("staff_booking_notice", "inbox", "en"): Template(
        "Booking: {{ service.name }} {{ booking.starts_at }}",
        "{{ customer.name }} booked {{ service.name }} at {{ branch.name }} from {{ booking.starts_at }} to "
        "{{ booking.ends_at }}, status {{ booking.status }}.\n",
    ),
}
_UNSUBSCRIBE_FOOTER: Final = {"zh-CN": "\n退订此类邮件：{{ unsubscribe.url }}\n", "en": "\nUnsubscribe: {{ unsubscribe.url }}\n"}


def _with_footer(combination: Combination, template: Template) -> Template:
    key, channel, locale = combination
    if channel != "email" or KEYS[key].audience != "customer":
        return template
    return Template(template.subject, template.body + _UNSUBSCRIBE_FOOTER[locale])


DEFAULTS: Final[Mapping[Combination, Template]] = {c: _with_footer(c, t) for c, t in _BUILT_IN.items()}


def template_for(
    key: str, channel: str, locale: str, stored: Mapping[Combination, Template] | None = None
) -> Template | None:
    """The template in the locale asked for, else in the default locale, else in any locale; a stored
    (edited) version wins over the built-in one of the same locale."""
    for candidate in (locale, DEFAULT_LOCALE, *LOCALES):
        combination = (key, channel, candidate)
        if (found := (stored or {}).get(combination) or DEFAULTS.get(combination)) is not None:
            return found
    return None
