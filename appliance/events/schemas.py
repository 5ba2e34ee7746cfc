"""Deliveries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

DeliveryStatus = Literal["pending", "running", "done", "dead"]


class AttemptOut(msgspec.Struct):
    number: int
    started_at: datetime
    duration_ms: int
    outcome: str  # success | retry | failed
    response: str  # short, personal data masked


class Delivery(msgspec.Struct):
    id: UUID
    event_id: UUID
    event_type: str
    subscriber: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class DeliveryDetail(Delivery):
    attempt_log: list[AttemptOut] = []
