"""Audit entries and exports as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from appliance.audit.trail import Result


class AuditEntry(msgspec.Struct):
    id: UUID
    seq: int | None  # its place in the sealed log; null for the few seconds until the sealer gets to it
    occurred_at: datetime
    actor_kind: str
    actor_id: str | None
    actor_label: str
    auth_method: str
    ip: str | None
    request_id: str | None
    action: str
    target_type: str
    target_id: str | None
    result: Result
    reason: str
    changed_fields: list[str]
    details: dict[str, Any]


class ExportRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Entries from `since` to `until` (each optional: from the oldest online, up to now)."""

    since: datetime | None = None
    until: datetime | None = None
