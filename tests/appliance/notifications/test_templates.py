"""Templates render in a sandbox, refuse unknown variables, exist in both locales, use only the variables
documented for their key, and an edited version wins over the built-in one."""

from __future__ import annotations

import pytest

from appliance.notifications.catalogue import KEYS, notify_problems, sample_variables, template_keys
from appliance.notifications.templates import (
    DEFAULTS, LOCALES, Template, TemplateProblem, combination_problems, render, template_for, template_problems,
)

VARIABLES = sample_variables("survey_invitation")  # the widest set: a survey link and an unsubscribe link


@pytest.mark.parametrize("combination", sorted(DEFAULTS), ids="/".join)
def test_every_built_in_template_renders_with_exactly_its_documented_variables(combination: tuple[str, str, str]) -> None:
    key, channel, _ = combination
    assert template_problems(key, channel, DEFAULTS[combination]) == {}
    rendered = render(DEFAULTS[combination], sample_variables(key))
    assert "{{" not in rendered.subject + rendered.body and "\n" not in rendered.subject
    assert "精油按摩" in rendered.subject + rendered.body


@pytest.mark.parametrize("key", sorted({key for key, _, _ in DEFAULTS}))
def test_every_built_in_key_has_both_locales(key: str) -> None:
    channels = {channel for k, channel, _ in DEFAULTS if k == key}
    assert all((key, channel, locale) in DEFAULTS for channel in channels for locale in LOCALES)


def test_customer_emails_carry_an_unsubscribe_link_and_staff_messages_do_not() -> None:
    assert "{{ unsubscribe.url }}" in DEFAULTS[("booking_reminder", "email", "en")].body
    assert "unsubscribe" not in DEFAULTS[("staff_booking_notice", "inbox", "en")].body
    assert "unsubscribe.url" not in KEYS["staff_booking_notice"].variables()


def test_an_unknown_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(TemplateProblem, match="costumer"):
        render(Template("Hi", "Dear {{ costumer.name }}"), VARIABLES)


def test_the_sandbox_refuses_reaching_into_python() -> None:
    with pytest.raises(TemplateProblem):
        render(Template("x", "{{ ''.__class__.__mro__[1].__subclasses__() }}"), VARIABLES)


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(TemplateProblem, match="line 2"):
        render(Template("x", "ok\n{% if %}"), VARIABLES)


def test_a_template_using_another_keys_variable_is_refused_naming_the_field() -> None:
    problems = template_problems("booking_reminder", "email", Template("提醒 {{ survey.url }}", "{{ customer.name }}"))
    assert list(problems) == ["subject"] and "survey" in problems["subject"] and "booking.starts_at" in problems["subject"]


def test_email_needs_a_subject_and_sms_does_not() -> None:
    assert template_problems("booking_reminder", "email", Template(" ", "hi")) == {
        "subject": "messages on email need a subject"
    }
    assert template_problems("booking_reminder", "sms", Template("", "{{ booking.time }} 见")) == {}


def test_templates_exist_only_for_channels_that_reach_their_audience() -> None:
    assert template_keys("email") == template_keys("sms") == [
        "booking_confirmation", "booking_reminder", "payment_reminder", "survey_invitation",
    ]
    assert template_keys("inbox") == template_keys("wecom") == ["staff_booking_notice"]
    assert list(combination_problems("booking_reminder", "inbox", "en")) == ["channel"]
    assert list(combination_problems("no_such", "email", "en")) == ["key"]
    assert list(combination_problems("booking_reminder", "email", "fr")) == ["locale"]


def test_a_missing_locale_falls_back_to_chinese_and_an_unknown_key_to_nothing() -> None:
    assert template_for("booking_reminder", "email", "fr") == DEFAULTS[("booking_reminder", "email", "zh-CN")]
    assert template_for("no_such", "email", "zh-CN") is None
    assert template_for("booking_reminder", "sms", "zh-CN") is None


def test_an_edited_template_wins_over_the_built_in_one_of_its_locale_only() -> None:
    edited = Template("明天见", "{{ booking.time }}")
    stored = {("booking_reminder", "email", "zh-CN"): edited}
    assert template_for("booking_reminder", "email", "zh-CN", stored) == edited
    assert template_for("booking_reminder", "email", "en", stored) == DEFAULTS[("booking_reminder", "email", "en")]
    assert template_for("booking_reminder", "sms", "en", {("booking_reminder", "sms", "zh-CN"): edited}) == edited


def test_a_notify_action_must_use_a_channel_reaching_its_recipient_and_a_template_for_them() -> None:
    assert notify_problems("email", "customer", "booking_reminder") == {}
    assert notify_problems("inbox", "role:manager", "staff_booking_notice") == {}
    assert notify_problems("dingtalk", "assigned_staff", "staff_booking_notice") == {}
    assert list(notify_problems("inbox", "customer", "booking_reminder")) == ["channel"]
    assert list(notify_problems("sms", "assigned_staff", "staff_booking_notice")) == ["channel"]
    assert list(notify_problems("inbox", "assigned_staff", "booking_reminder")) == ["template"]
