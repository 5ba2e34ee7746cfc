"""Audit tests: the audit log configured for the test's data directory, and entries written as actions do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appliance.audit import config as audit_config_module
from appliance.audit.config import AuditConfig, config_from
from appliance.settings import Settings


@pytest.fixture
def audit(settings: Settings, database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditConfig]:
    """This process configured like the app: key ring and archives under the test's data directory."""
    config = config_from(settings)
    monkeypatch.setattr(audit_config_module, "_config", config)
    yield config
