"""Survey invitations (a random link token, only its hash kept) and answers, one per booking."""

from __future__ import annotations

from piccolo.columns import UUID, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table

from appliance.bookings.tables import Booking


class SurveyInvitation(Table):
    id = UUID(primary_key=True)
    booking = ForeignKey(Booking, on_delete=OnDelete.cascade, index=True)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()


class SurveyAnswer(Table):
    id = UUID(primary_key=True)
    booking = ForeignKey(Booking, on_delete=OnDelete.cascade, unique=True)
    rating = Integer()  # 1–5
    comment = Text(default="")  # sealed
    created_at = Timestamptz()
