"""Templates, previews, inbox items and opt-outs as the API takes and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

Channel = Literal["email", "inbox", "sms", "wecom", "dingtalk"]
Locale = Literal["zh-CN", "en"]


class TemplateBody(msgspec.Struct, forbid_unknown_fields=True):
    body: str
    subject: str = ""  # needed by email and inbox; SMS and chat messages send the body alone


class NotificationTemplate(msgspec.Struct):
    key: str
    channel: str
    locale: str
    subject: str
    body: str
    source: Literal["built_in", "edited"]  # edited: staff's version is used instead of the built-in one
    has_built_in: bool  # whether a reset brings a built-in version back
    audience: Literal["customer", "staff"]
    urgent: bool  # sent during quiet hours too
    description: str
    variables: dict[str, str]  # name → meaning: everything the template may use
    revision: int = 0  # 0: never edited
    updated_at: datetime | None = None


class TemplatePreview(msgspec.Struct, forbid_unknown_fields=True):
    booking_id: UUID
    key: str
    channel: Channel = "email"
    locale: Locale = "zh-CN"
    # A draft to try; without one the template in use (edited or built-in) is rendered.
    subject: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    body: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None


class RenderedPreview(msgspec.Struct):
    subject: str
    body: str
    source: Literal["draft", "built_in", "edited"]


class InboxItem(msgspec.Struct):
    id: UUID
    subject: str
    body: str
    booking_id: UUID | None
    created_at: datetime
    read_at: datetime | None


class OptOuts(msgspec.Struct):
    customer_id: UUID
    channels: list[str]  # channels the customer gets no messages on


class Unsubscribed(msgspec.Struct):
    channel: str
    opted_out: bool
