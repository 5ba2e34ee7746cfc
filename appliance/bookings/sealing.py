"""Bookings' personal free text as stored: the form answers (a JSON map) and the notes, sealed (field
encryption, `appliance.core.crypto`). "" stands for none of either."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from appliance.core.crypto.registry import open_value, seal_present


def sealed_answers(booking_id: UUID, answers: Mapping[str, Any] | None) -> str:
    return seal_present("booking", "answers", booking_id, dict(answers)) if answers else ""


def opened_answers(booking_id: object, stored: str | None) -> dict[str, Any]:
    return open_value("booking", "answers", booking_id, stored) if stored else {}


def sealed_notes(booking_id: UUID, notes: str) -> str:
    return seal_present("booking", "notes", booking_id, notes) if notes else ""


def opened_notes(booking_id: object, stored: str | None) -> str:
    return open_value("booking", "notes", booking_id, stored) if stored else ""
