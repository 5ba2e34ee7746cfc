"""Surveys as the portal shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec


class SurveyAnswerCreate(msgspec.Struct, forbid_unknown_fields=True):
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class Survey(msgspec.Struct):
    booking_id: UUID
    service_name: str
    branch_name: str
    starts_at: datetime
    answered: bool
    rating: int | None
    comment: str | None
    open_until: datetime
