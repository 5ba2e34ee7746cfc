"""docs/notifications.md names every template and every variable a template may use, as the catalogue defines them."""

from __future__ import annotations

from pathlib import Path

from appliance.notifications.catalogue import KEYS

NOTIFICATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def test_every_template_and_variable_is_documented() -> None:
    doc = NOTIFICATIONS_DOC.read_text(encoding="utf-8")
    missing = [f"template {key}" for key in KEYS if f"| `{key}` |" not in doc]
    missing += [
        f"{name} ({key})" for key, spec in KEYS.items() for name, meaning in spec.variables().items()
        if f"| `{name}` |" not in doc or meaning not in doc
    ]
    assert not missing, "docs/notifications.md does not document: " + ", ".join(missing)
