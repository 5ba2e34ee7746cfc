"""The versioned event envelope every subscriber (rules, webhooks, plugins) receives."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class Subject(msgspec.Struct, frozen=True):
    type: str
    id: str


class Envelope(msgspec.Struct, frozen=True):
    id: UUID
    type: str  # noun.verb_past, e.g. branch.created
    version: int
    occurred_at: datetime
    actor: dict[str, str | None]
    subject: Subject
    data: dict[str, Any]
