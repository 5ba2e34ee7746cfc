"""The communication log, staff inboxes and edited templates (customers' opt-outs are consent in
customers.tables.CustomerConsent).

The log holds no address or text: the recipient is resolved and the template rendered when sending,
so it holds no personal data beyond the customer it points to. An inbox item is the one place a
rendered text is kept, as it is what the staff member reads."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Integer, Text, Timestamptz, Varchar
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
    status = Varchar(length=16, default="queued", index=True)  # queued | deferred | sent | skipped | failed
    reason = Varchar(length=500, default="")
    # Staff messages: each person's outcome, user id → "sent" or why they cannot be reached, written after
    # every send so a retry goes only to those still missing. Customer messages (one address) leave it empty.
    outcomes = JSON(default={})
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    deferred_until = Timestamptz(null=True, default=None)  # held back by quiet hours until then


class MessageTemplate(Table):
    """A template staff edited, in place of the built-in one of its (key, channel, locale)."""

    id = UUID(primary_key=True)
    key = Varchar(length=100)
    channel = Varchar(length=32)
    locale = Varchar(length=16)
    name = Varchar(length=160, unique=True)  # "key/channel/locale": one stored version per combination
    subject = Varchar(length=300, default="")
    body = Text()  # sealed
    revision = Integer(default=1)
    updated_by = Varchar(length=200, default="")
    updated_at = Timestamptz()


class InboxItem(Table):
    """A message delivered to one staff member's in-app inbox."""

    id = UUID(primary_key=True)
    user = UUID(index=True)
    message = UUID()
    delivery_key = Varchar(length=80, unique=True)  # "<message>:<user>": a redelivery adds nothing
    booking = UUID(null=True, default=None)
    subject = Varchar(length=300)
    body = Text()  # sealed
    created_at = Timestamptz(index=True)
    read_at = Timestamptz(null=True, default=None)


class LinkKey(Table):
    """The secret that signs links in messages (unsubscribe), made on first use and shared by every node
    through the database, sealed (`core.crypto`); rotate by deleting the row (older links stop working)."""

    id = Varchar(length=32, primary_key=True)
    secret = Text()  # sealed
    created_at = Timestamptz()
