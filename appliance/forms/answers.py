"""Answers checked against the current form of what they are given for: a service's booking questions,
or the customer profile fields. Reads only; the caller stores the answers with the form's id and version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from appliance.core.errors import Invalid
from appliance.forms.logic import Answer, Checked, check_answers
from appliance.forms.schemas import Locale
from appliance.forms.queries import CUSTOMERS, FormRef, current_form, form_fields


@dataclass(frozen=True)
class CheckedAnswers:
    """What to store: the accepted answers and the form (id, version) they were checked against;
    no form when the subject has none (then there are no answers either)."""

    answers: dict[str, Answer]
    form_id: UUID | None
    version: int | None


class AnswersInvalid(Invalid):
    """422 naming each bad answer (`answers.allergy`) in the caller's language; `answer_errors` in the
    problem carries each message in zh-CN and en, and its code, for forms that show both."""

    def __init__(self, checked: Checked, *, prefix: str, locale: Locale) -> None:
        super().__init__({f"{prefix}.{key}": error.message(locale) for key, error in checked.errors.items()})
        self.extra = {
            "answer_errors": [
                {"field": f"{prefix}.{key}", "code": error.code, "messages": error.messages()}
                for key, error in checked.errors.items()
            ]
        }


async def _check(form: FormRef | None, given: Mapping[str, Any], *, prefix: str, locale: Locale) -> CheckedAnswers:
    fields = await form_fields(form) if form else []
    checked = check_answers(fields, given)
    if checked.errors:
        raise AnswersInvalid(checked, prefix=prefix, locale=locale)
    if form is None:
        return CheckedAnswers({}, None, None)
    return CheckedAnswers(checked.answers, form.id, form.version)


async def check_booking_answers(form: FormRef | None, given: Mapping[str, Any], *, locale: Locale = "en") -> CheckedAnswers:
    """A booking's answers against its service's current form (`ServiceContext.form`, read with the
    service); a service without one takes none."""
    return await _check(form, given, prefix="answers", locale=locale)


async def check_profile_fields(
    given: Mapping[str, Any], *, kept: Mapping[str, Any] | None = None, locale: Locale = "en", prefix: str = "custom_fields"
) -> CheckedAnswers:
    """A customer's custom profile fields against the customers form; errors are named `<prefix>.<key>`.
    `kept` are the customer's stored fields: one the current form does not ask, given again unchanged,
    stays as it is (given under an older version of the form, or before there was one; it keeps that
    definition)."""
    form = await current_form(CUSTOMERS)
    asked = {item.key for item in await form_fields(form)} if form else set()
    carried = {k: v for k, v in given.items() if k not in asked and kept and k in kept and kept[k] == v}
    checked = await _check(form, {k: v for k, v in given.items() if k not in carried}, prefix=prefix, locale=locale)
    return CheckedAnswers({**checked.answers, **carried}, checked.form_id, checked.version)
