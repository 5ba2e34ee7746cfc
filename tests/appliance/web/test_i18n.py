"""Page language: how it is chosen, and every text of the pages has its zh-CN translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.frontend import CommandLineInterface

from appliance.web.i18n import choose_locale, translations

ROOT = Path(__file__).resolve().parents[3]


def test_the_language_comes_from_the_query_then_the_cookie_then_accept_language_then_chinese() -> None:
    assert choose_locale("en", "zh-CN", "zh-CN,zh") == "en"
    assert choose_locale(None, "en", "zh-CN") == "en"
    assert choose_locale("xx", None, "en-GB,en;q=0.9") == "en"
    assert choose_locale(None, None, "zh-TW,zh;q=0.9,en;q=0.5") == "zh-CN"
    assert choose_locale(None, None, "fr-FR") == "zh-CN"
    assert choose_locale(None, None, None) == "zh-CN"


def test_every_text_of_the_pages_is_translated_into_chinese(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(ROOT / "appliance/web/babel.cfg"), "-o", str(pot), "--no-location", str(ROOT)]
    )
    texts = [line[len('msgid "'):-1] for line in pot.read_text(encoding="utf-8").splitlines() if line.startswith('msgid "')]
    chinese = translations("zh-CN")

    untranslated = [t for t in texts if t and chinese.gettext(t.replace('\\"', '"')) == t.replace('\\"', '"')]

    assert len(texts) > 50
    assert untranslated == []
