"""The communication log: every message the appliance sends or decides not to send, and why.

No address or text is stored: the recipient is resolved and the template rendered when sending, so
the log holds no personal data beyond the customer it points to."""

from __future__ import annotations

from piccolo.columns import UUID, Timestamptz, Varchar
from piccolo.table import Table


class Message(Table):
    id = UUID(primary_key=True)  # also the email's Message-ID: a re-sent copy collapses in mailboxes
    booking = UUID(null=True, default=None, index=True)
    customer = UUID(null=True, default=None, index=True)
    rule = UUID(null=True, default=None)
    cause = UUID(null=True, default=None)  # the event that led to it
    channel = Varchar(length=32)
    template = Varchar(length=100)
    locale = Varchar(length=16, default="zh-CN")
    recipient = Varchar(length=64)  # customer | assigned_staff | role:<role>
    status = Varchar(length=16, default="queued", index=True)  # queued | sent | skipped | failed
    reason = Varchar(length=500, default="")
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
