"""The only code that writes surveys: an invitation link for a booking, and the customer's answer."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.credentials import digest
from appliance.bookings.tables import Booking
from appliance.core.clock import utc_now
from appliance.core.db import is_unique_violation, write_transaction
from appliance.core.errors import Conflict, NotFound
from appliance.events.envelope import Subject
from appliance.core.crypto.registry import open_value, seal_value
from appliance.surveys import schemas
from appliance.surveys.tables import SurveyAnswer, SurveyInvitation

OPEN_FOR = timedelta(days=30)
SURVEY_PATH = "/portal/survey/{token}"


async def invite(booking_id: UUID) -> str:
    """A new link token for the booking's survey (192 random bits; only the hash is kept)."""
    token = secrets.token_urlsafe(24)
    now = utc_now()
    await SurveyInvitation.insert(SurveyInvitation(
        id=uuid4(), booking=booking_id, token_hash=digest(token), created_at=now, expires_at=now + OPEN_FOR,
    ))
    return token


async def _invitation(token: str) -> dict[str, Any]:
    invitation = await SurveyInvitation.select(SurveyInvitation.booking, SurveyInvitation.expires_at).where(
        SurveyInvitation.token_hash == digest(token)
    ).first()
    if invitation is None:
        raise NotFound("no survey for this link")
    booking = await Booking.select(
        Booking.customer, Booking.starts_at, Booking.service.name, Booking.branch.name
    ).where(Booking.id == invitation["booking"]).first()
    if booking is None:
        raise NotFound("no survey for this link")
    return {**invitation, **{f"booking.{k}": v for k, v in booking.items()}}


async def survey(token: str) -> schemas.Survey:
    row = await _invitation(token)
    answer = await SurveyAnswer.select().where(SurveyAnswer.booking == row["booking"]).first()
    return schemas.Survey(
        booking_id=row["booking"], service_name=row["booking.service.name"], branch_name=row["booking.branch.name"],
        starts_at=row["booking.starts_at"], answered=answer is not None, rating=answer["rating"] if answer else None,
        comment=open_value("survey_answer", "comment", answer["id"], answer["comment"]) if answer else None, open_until=row["expires_at"],
    )


async def answer_survey(token: str, data: schemas.SurveyAnswerCreate, *, ip: str | None, request_id: str | None) -> schemas.Survey:
    """The customer's one answer; a second is 409 `already_answered`, an expired link 409 `survey_closed`."""
    row = await _invitation(token)
    if utc_now() > row["expires_at"]:
        raise Conflict("this survey has closed", code="survey_closed")
    actor = Actor(
        kind="customer", id=str(row["booking.customer"]), label="customer", auth_method="survey_link", ip=ip,
        request_id=request_id, grants=(),
    )
    try:
        async with write_transaction():
            answer_id = uuid4()
            await SurveyAnswer.insert(SurveyAnswer(
                id=answer_id, booking=row["booking"], rating=data.rating,
                comment=seal_value("survey_answer", "comment", answer_id, data.comment.strip()), created_at=utc_now(),
            ))
            await record_change(
                "survey.answered", Subject("booking", str(row["booking"])),
                {"booking_id": str(row["booking"]), "rating": data.rating}, actor=actor,
                changed_fields=["rating"] + (["comment"] if data.comment.strip() else []),
            )
    except Exception as exc:
        if is_unique_violation(exc):
            raise Conflict("this booking's survey is answered already", code="already_answered") from None
        raise
    return await survey(token)


