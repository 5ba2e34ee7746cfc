"""Posted admin forms into the domain's input structs, and the domain's messages back onto the inputs.

Forms post text; the domain's structs say what is valid. So a form becomes a plain mapping that
`convert` hands to msgspec (which names the bad field), and every message, msgspec's or an action's,
is shown next to the input of the same name, in the staff member's language where we know the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import msgspec
from litestar.datastructures import FormMultiDict

from appliance.core.errors import AppError, Invalid
from appliance.web.admin.shell import problem_text
from appliance.web.i18n import N_, Texts

T = TypeVar("T")

# Domain messages said in full, by their English text.
KNOWN: dict[str, str] = {
    "required": N_("This is required."),
    "not a valid email address": N_("Enter a valid email address, such as name@example.com."),
    "not a valid phone number": N_("Enter a valid phone number."),
    "this is the main phone": N_("The main phone is not also a further phone."),
    "at most 5 further phones": N_("A customer has at most 5 further phones."),
    "not an IANA time zone name such as Asia/Shanghai": N_("Choose a time zone from the list."),
    "must be after starts_at": N_("The end must be after the start."),
    "no such branch": N_("Choose a branch."),
    "needs a staff requirement for the customer to pick from": N_(
        "Customers can only pick staff when the service needs a staff member."
    ),
    "must be shorter than max_advance_days, or nothing could ever be booked": N_(
        "The minimum notice must be shorter than the booking window, or nothing could ever be booked."
    ),
    "not in the future": N_("This cannot be in the future."),
    "four digits": N_("Enter the last four digits of the phone number."),
    "a customer cannot be merged into itself": N_("A customer cannot be merged into itself."),
    "say which request this answers (e.g. its reference)": N_("Say which request this answers (e.g. its reference)."),
    "not a number": N_("Enter a number."),
    "a date and time": N_("Enter a date and time."),
    "must not be 0": N_("Enter a number other than 0."),
    "say why": N_("Say why."),
    "name an approver_role or approvers": N_("Choose a role or named staff for this level."),
    "a non-empty list of user ids": N_("Choose at least one staff member."),
    "give at least one option": N_("Give at least one option, one a line."),
    "option values must differ": N_("Each option needs a value of its own."),
    "give a label in zh-CN or en": N_("Give a label in Chinese or English."),
    "set min_spend, min_points or both": N_("Give a lifetime spend, a number of points or both."),
    "must name an earlier field of this form": N_("Choose a question above this one."),
    "is_set takes true or false": N_("Enter true or false."),
    "must not exceed max_length": N_("The shortest must not exceed the longest."),
    "only a text field takes a pattern": N_("Only a text question takes a pattern."),
}

# Messages with values in them: a pattern, and the text shown (which may name the pattern's groups).
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^needs (?P<detail>.+)$"), N_("The branch's active resources cannot meet this: needs %(detail)s")),
    (re.compile(r"^the customer has (?P<n>\d+) points$"), N_("The customer has only %(n)s points.")),
    (re.compile(r"^1–(?P<n>\d+) characters, without"), N_("1 to %(n)s characters, without , ; / | # or control characters.")),
    (re.compile(r"^a customer has at most (?P<n>\d+) tags"), N_("A customer has at most %(n)s tags.")),
    (re.compile(r"^starts at .+, which is not before its end"), N_("The start must be before the end.")),
    (re.compile(r"^overlaps "), N_("This overlaps another interval.")),
    (re.compile(r"already has an exception"), N_("This date already has other hours.")),
    (re.compile(r"already listed"), N_("This is listed twice.")),
    (re.compile(r" is used by an earlier field$"), N_("An earlier question uses this key.")),
    (re.compile(r"^must not be below \w+_(min|after)$"), N_("This must not be below the lower bound.")),
    (re.compile(r"^must be at most (?P<n>\d+)$"), N_("At most %(n)s.")),
    (re.compile(r"^at most (?P<n>\d+)( for a field with a pattern)?$"), N_("At most %(n)s.")),
    (re.compile(r"^(in|not_in) needs a list of values$"), N_("Enter one or more values, comma separated.")),
    (re.compile(r" is not a possible answer to (?P<key>\w+)$"), N_("This is not a possible answer to %(key)s.")),
    (re.compile(r"field has no (min|max)_length; only text fields do$"), N_("Only a text question takes a length.")),
    (re.compile(r"^not a regular expression"), N_("This is not a valid regular expression.")),
    (re.compile(r"are not allowed$|is not allowed$|^at most \d+ repeats"),
     N_("This pattern is not allowed: it could take too long to check. Simplify it.")),
    (re.compile(r"^a whole number from (?P<low>-?\d+) to (?P<high>-?\d+)$"), N_("A whole number from %(low)s to %(high)s.")),
    (re.compile(r"`int` >= (?P<n>-?\d+)"), N_("At least %(n)s.")),
    (re.compile(r"`int` <= (?P<n>-?\d+)"), N_("At most %(n)s.")),
    (re.compile(r"^Expected `int`"), N_("Enter a whole number.")),
    (re.compile(r"length >= 1"), N_("This is required.")),
    (re.compile(r"`str` of length <= (?P<n>\d+)"), N_("At most %(n)s characters.")),
    (re.compile(r"`array` of length <= (?P<n>\d+)"), N_("At most %(n)s entries.")),
    (re.compile(r"matching regex"), N_("Use the form HH:MM, e.g. 09:30.")),
    (re.compile(r"Invalid enum value|Expected `str`, got"), N_("Choose one of the options.")),
    (re.compile(r"date"), N_("Enter a date as YYYY-MM-DD.")),
)


def message_text(texts: Texts, message: str) -> str:
    """A domain or validation message in the staff member's language, where we know it (a page's own hint
    passed to `convert` is translated too); else as it is."""
    if message in KNOWN:
        return texts.gettext(KNOWN[message])
    for pattern, text in PATTERNS:
        if found := pattern.search(message):
            return texts.gettext(text) % found.groupdict()
    return texts.gettext(message)


def split_path(message: str) -> tuple[str, str]:
    """msgspec's "Expected `int` >= 5 - at `$.seats`" as ("seats", "Expected `int` >= 5")."""
    text, _, where = message.rpartition(" - at `$")
    if not text:
        return "", message
    return where.rstrip("`").lstrip("."), text


def convert(data: Mapping[str, Any], into: type[T], *, hints: Mapping[str, str] | None = None) -> T:
    """The form's values as the domain's input struct (text turned into numbers, dates, lists), or Invalid
    naming the field msgspec refused. `hints` (field → message marked with N_) replaces msgspec's wording
    for fields where it would mean nothing to staff (a regex)."""
    try:
        return msgspec.convert(data, into, strict=False)
    except msgspec.ValidationError as exc:
        field, text = split_path(str(exc))
        raise Invalid({field or "form": (hints or {}).get(field, text)}) from None


def field_errors(
    texts: Texts, error: AppError, rename: Callable[[str], str] = lambda key: key
) -> tuple[dict[str, str], str | None]:
    """Inline messages by input name, and a message for the top of the form for what names no input
    (or for an error that is not about the input at all: a conflict, a refusal)."""
    if not isinstance(error, Invalid):
        return {}, problem_text(texts, error)
    inline: dict[str, str] = {}
    for key, message in error.fields.items():
        inline.setdefault(rename(key), message_text(texts, message))
    loose = inline.pop("form", None)
    return inline, loose


def message_of(texts: Texts, error: AppError) -> str:
    """The whole error as one message, for a page that shows it in a box rather than on inputs."""
    inline, loose = field_errors(texts, error)
    return "; ".join([*([loose] if loose else []), *inline.values()]) or error.detail


def text(form: FormMultiDict, name: str, limit: int = 2000) -> str:
    return str(form.get(name, "")).strip()[:limit]


def optional(form: FormMultiDict, name: str, limit: int = 2000) -> str | None:
    return text(form, name, limit) or None


def words(value: str) -> list[str]:
    """A comma- (or 、-) separated list, e.g. of skills, without blanks."""
    return [w.strip() for w in re.split(r"[,，、]", value) if w.strip()]


def money_minor(value: str) -> int | str:
    """Yuan as typed ("198", "198.50", "¥1,980") in fen; text that is no amount comes back unchanged,
    so validation names it."""
    cleaned = value.replace("¥", "").replace("￥", "").replace(",", "").strip()
    try:
        amount = Decimal(cleaned or "0")
    except InvalidOperation:
        return value
    fen = amount * 100
    if fen != fen.to_integral_value():
        return value
    return int(fen)


def yuan(amount_minor: int) -> str:
    """Fen as an amount to type into the form again, e.g. 19850 → "198.50"."""
    return f"{Decimal(amount_minor) / 100:.2f}"


def rows(
    form: FormMultiDict, prefix: str, names: Sequence[str], *, keep_blank: bool = False
) -> list[tuple[int, dict[str, str]]]:
    """The filled rows of a repeated group of inputs named `<prefix>[<n>].<name>` with their numbers;
    blank rows (offered for adding one) are left out unless asked for."""
    found: list[tuple[int, dict[str, str]]] = []
    number = 0
    while any(f"{prefix}[{number}].{n}" in form for n in names):
        row = {n: text(form, f"{prefix}[{number}].{n}") for n in names}
        if keep_blank or any(row.values()):
            found.append((number, row))
        number += 1
    return found


def renumber(mapping: Mapping[str, str]) -> Callable[[str], str]:
    """An error key renamer: a list path the domain numbered among the filled rows (`weekly.mon[0]`, and
    its fields) named after the form's row (`weekly.mon[2]`); a list below it (an interval of an exception)
    is one input, so its numbers go."""

    def rename(key: str) -> str:
        for inner, outer in mapping.items():
            if key == inner or key.startswith(inner + "["):
                return outer
            if key.startswith(inner + "."):
                return outer + key[len(inner):]
        return key

    return rename
