"""The page language (zh-CN by default, or en) and its translations, dates and times.

Translations are Babel message catalogs: `locale/<lang>/LC_MESSAGES/*.po`, merged and compiled in memory
when the module is first used, so a fresh clone needs no build step and no .mo files are committed.
Page texts are written in English in the templates; English therefore needs no catalog.
"""

from __future__ import annotations

import functools
import gettext
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale as BabelLocale
from babel import negotiate_locale
from babel.dates import format_date, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from appliance.forms.schemas import Locale

LOCALES: Final[tuple[Locale, ...]] = ("zh-CN", "en")
DEFAULT_LOCALE: Final[Locale] = "zh-CN"
COOKIE: Final = "lang"
LOCALE_DIR = Path(__file__).parent / "locale"
_BABEL_NAMES: Final[dict[Locale, str]] = {"zh-CN": "zh_CN", "en": "en"}


def N_(message: str) -> str:
    """Marks a text for extraction where it is defined; it is translated where it is shown."""
    return message


def _known(value: str | None) -> Locale | None:
    for locale in LOCALES:
        if value and value.lower() == locale.lower():
            return locale
    return None


def choose_locale(query: str | None, cookie: str | None, accept_language: str | None) -> Locale:
    """`?lang=` first, then the cookie a previous `?lang=` set, then Accept-Language, then zh-CN."""
    if chosen := _known(query) or _known(cookie):
        return chosen
    wanted = [part.split(";")[0].strip().replace("-", "_") for part in (accept_language or "").split(",") if part.strip()]
    best = negotiate_locale(wanted, list(_BABEL_NAMES.values()), sep="_", aliases={"zh": "zh_CN"})
    return next((k for k, v in _BABEL_NAMES.items() if v == best), DEFAULT_LOCALE)


@functools.cache
def translations(locale: Locale) -> gettext.NullTranslations:
    """Every `*.po` of the language, merged: `messages.po` for the portal and shared texts, one file per
    admin section (so sections are translated side by side without editing one file)."""
    folder = LOCALE_DIR / _BABEL_NAMES[locale] / "LC_MESSAGES"
    merged: Catalog | None = None
    for po_file in sorted(folder.glob("*.po")):
        with po_file.open("rb") as source:
            catalog = read_po(source, locale=_BABEL_NAMES[locale])
        if merged is None:
            merged = catalog
            continue
        for message in catalog:
            if message.id and message.id not in merged:
                merged[message.id] = message
    if merged is None:
        return gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, merged)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@dataclass(frozen=True)
class Texts:
    """One request's language: what templates call as `_()`, and the date, time and money formats."""

    locale: Locale

    @property
    def babel(self) -> BabelLocale:
        return BabelLocale.parse(_BABEL_NAMES[self.locale])

    def gettext(self, message: str) -> str:
        return translations(self.locale).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return translations(self.locale).ngettext(singular, plural, n)

    def when(self, value: datetime, tz: str) -> str:
        """Date and time in the branch's zone, e.g. 2026年6月1日 星期一 14:00 / Monday, June 1, 2026, 2:00 PM."""
        return f"{self.day(value.astimezone(ZoneInfo(tz)).date())} {self.time(value, tz)}"

    def day(self, value: date) -> str:
        return format_date(value, "full", locale=self.babel)

    def short_day(self, value: date) -> str:
        return format_date(value, "d", locale=self.babel)

    def month(self, value: date) -> str:
        return format_date(value, "yMMMM" if self.locale == "en" else "y年M月", locale=self.babel)

    def weekday(self, value: date) -> str:
        return format_date(value, "EEE", locale=self.babel)

    def time(self, value: datetime, tz: str) -> str:
        return format_time(value, "HH:mm", tzinfo=ZoneInfo(tz), locale=self.babel)

    def money(self, amount_minor: int, currency: str) -> str:
        return format_currency(amount_minor / 100, currency, locale=self.babel)
