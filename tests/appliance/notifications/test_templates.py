"""Templates render in a sandbox, refuse unknown variables, and exist in both locales."""

from __future__ import annotations

import pytest

from appliance.notifications.templates import (
    DEFAULTS, LOCALES, Template, TemplateProblem, render, template_for, template_keys,
)

VARIABLES = {
    "customer": {"name": "韩梅梅"},
    "booking": {"id": "b1", "status": "confirmed", "date": "2026-12-03", "time": "14:30", "weekday": "thu",
                "starts_at": "2026-12-03 14:30", "ends_at": "2026-12-03 15:30", "seats": 1, "price": "¥198.00"},
    "service": {"name": "精油按摩"},
    "branch": {"name": "静安店"},
    "survey": {"url": "https://book.shop.example/portal/survey/abc"},  # given to survey_invitation only
}


@pytest.mark.parametrize("key", sorted({key for key, _, _ in DEFAULTS}))
def test_every_built_in_template_renders_in_every_locale(key: str) -> None:
    for locale in LOCALES:
        template = DEFAULTS[(key, "email", locale)]
        rendered = render(template, VARIABLES)
        assert "{{" not in rendered.subject + rendered.body and "\n" not in rendered.subject
        assert "精油按摩" in rendered.subject + rendered.body


def test_an_unknown_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(TemplateProblem, match="costumer"):
        render(Template("Hi", "Dear {{ costumer.name }}"), VARIABLES)


def test_the_sandbox_refuses_reaching_into_python() -> None:
    with pytest.raises(TemplateProblem):
        render(Template("x", "{{ ''.__class__.__mro__[1].__subclasses__() }}"), VARIABLES)


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(TemplateProblem, match="line 2"):
        render(Template("x", "ok\n{% if %}"), VARIABLES)


def test_a_missing_locale_falls_back_to_chinese_and_an_unknown_key_to_nothing() -> None:
    assert template_for("booking_reminder", "email", "fr") == DEFAULTS[("booking_reminder", "email", "zh-CN")]
    assert template_for("no_such", "email", "zh-CN") is None
    assert "booking_confirmation" in template_keys("email") and template_keys("sms") == []
