"""What is wrong with an answer, in the customer's language (zh-CN or en). Pure data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from appliance.forms.schemas import HelpText, LabelText, Locale

LOCALES: Final[tuple[Locale, ...]] = ("zh-CN", "en")

# code -> (zh-CN, en); {min}, {max} and {length} are filled in from the field's definition.
TEXTS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType({
    "required": ("此项必填", "required"),
    "not_a_question": ("不是此表单的问题", "not a question of this form"),
    "not_text": ("须为文字", "must be text"),
    "one_line": ("须写在一行内", "must be on one line"),
    "too_short": ("至少 {min} 个字", "at least {min} characters"),
    "too_long": ("最多 {max} 个字", "at most {max} characters"),
    "wrong_format": ("格式不正确", "not in the expected format"),
    "not_a_number": ("须为数字", "must be a number"),
    "below_min": ("不能小于 {min}", "must be at least {min}"),
    "above_max": ("不能大于 {max}", "must be at most {max}"),
    "not_a_date": ("须为日期，格式如 2026-06-01", "must be a date such as 2026-06-01"),
    "too_early": ("不能早于 {min}", "must be on or after {min}"),
    "too_late": ("不能晚于 {max}", "must be on or before {max}"),
    "not_an_option": ("不是可选项", "not one of the options"),
    "not_a_list": ("须为选项列表", "must be a list of options"),
    "repeated_option": ("同一选项选了两次", "an option is chosen twice"),
    "too_few_options": ("至少选 {min} 项", "choose at least {min}"),
    "too_many_options": ("最多选 {max} 项", "choose at most {max}"),
    "not_a_boolean": ("须为是或否", "must be true or false"),
    "not_a_phone": ("不是有效的电话号码", "not a valid phone number"),
    "not_an_email": ("不是有效的电子邮箱", "not a valid email address"),
})


@dataclass(frozen=True)
class AnswerError:
    """One answer's problem: a code from TEXTS, the bounds it names, and the field's own wording if any."""

    code: str
    params: Mapping[str, object] = field(default_factory=dict)
    custom: LabelText | None = None

    def message(self, locale: Locale) -> str:
        if self.custom is not None and (own := pick(self.custom, locale)):
            return own
        zh, en = TEXTS[self.code]
        return (zh if locale == "zh-CN" else en).format(**self.params)

    def messages(self) -> dict[str, str]:
        return {locale: self.message(locale) for locale in LOCALES}


def pick(text: LabelText | HelpText, locale: Locale) -> str:
    """The text in `locale`, else in the other language."""
    first, second = (text.zh_cn, text.en) if locale == "zh-CN" else (text.en, text.zh_cn)
    return first or second


def locale_from(accept_language: str | None) -> Locale:
    """zh-CN when the caller's Accept-Language puts Chinese before English, else en."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "en"
