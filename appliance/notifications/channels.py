"""Ways a message leaves the appliance, and the interface integration plugins implement to add one.

Built in: `email` (SMTP) and `inbox` (staff's in-app inbox, `notifications.inbox`). SMS, WeCom and
DingTalk come from plugins that call `register_channel`; until one does, messages for those channels
are recorded as skipped ("channel not set up"), not failed.

A channel
- has a `name` (the `channel` of a rule's notify action: `sms`, `wecom`, `dingtalk`, …);
- says what its `address` is, so the sender knows what to hand it in `Outgoing.to`:
  `email` (the customer's address), `phone` (the customer's mobile, E.164, e.g. +8613800138000) or
  `user` (an appliance user id; a WeCom or DingTalk plugin maps it to that person's WeCom userid or
  DingTalk userId through its external-id links);
- sends one message to one recipient per `send` call (a staff message to several people is one call
  each) and raises
  - `Retryable` for what may pass: from an HTTP vendor a 5xx, 408 or 429, a timeout or a connection
    error. The delivery's back-off sets the next try, as `Retryable` carries no wait: honour a
    vendor's Retry-After by waiting out a short one inside `send` (a try has 30 s) and, for a longer
    one, raising `Retryable` without calling the vendor until it has passed;
  - `Permanent` for what will not: from an HTTP vendor any other 4xx (a refused number, a person it
    cannot reach). For a staff message it fails that recipient alone;
  - `NotSetUp` when it has no configuration here (the message is skipped, the reason recorded).
  An expired access token is no failure: the plugin refreshes it and retries the call once itself.
  SMTP reply codes are not HTTP statuses: the email channel treats a 4xx reply as transient
  (`Retryable`) and a 5xx reply as permanent (`Permanent`).
- has `send` called again for the same recipient of a message after a crash or a retry (at-least-once):
  pass `Outgoing.idempotency_key` (one per message and recipient) as the vendor's idempotency key or
  message id where the vendor has one. Not `message_id` alone: every recipient of a message shares it,
  so a vendor would drop the second person's copy as a duplicate of the first.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal, Protocol
from urllib.parse import urlsplit
from uuid import UUID

from appliance.events.subscribers import Permanent, Retryable
from appliance.notifications.inbox import deliver_to_inbox
from appliance.notifications.quiet import QuietHours, parse_quiet_hours
from appliance.settings import Settings, SmtpSettings

SMTP_TIMEOUT_S = 30

Address = Literal["email", "phone", "user"]


class NotSetUp(Permanent):
    """The channel has no configuration here: messages for it are skipped, not failed."""


@dataclass(frozen=True)
class Outgoing:
    message_id: UUID  # stable across re-sends of one message, and shared by all its recipients
    to: str  # the address, of the channel's `address` kind
    subject: str  # empty for channels without subjects
    body: str
    booking_id: UUID | None = None
    unsubscribe_url: str | None = None  # customer messages: stops this channel (email: List-Unsubscribe)

    @property
    def idempotency_key(self) -> str:
        """Stable across re-sends to this recipient, distinct between recipients: the key to give a vendor
        (the inbox's `delivery_key` is the same "<message>:<recipient>")."""
        return f"{self.message_id}:{self.to}"


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def address(self) -> Address: ...

    async def send(self, outgoing: Outgoing) -> None: ...


class EmailChannel:
    name = "email"
    address: Address = "email"

    def __init__(self, smtp: SmtpSettings, domain: str) -> None:
        self.smtp, self.domain = smtp, domain

    async def send(self, outgoing: Outgoing) -> None:
        if not self.smtp.host or not self.smtp.sender:
            raise NotSetUp("email is not set up: APPLIANCE_SMTP_HOST and APPLIANCE_SMTP_FROM are needed")
        await asyncio.to_thread(self._send, outgoing)

    def _send(self, outgoing: Outgoing) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.smtp.sender, outgoing.to, outgoing.subject
        mail["Date"] = formatdate(localtime=False)
        # One id per message: a copy sent again after a crash collapses with the first in mail clients.
        mail["Message-ID"] = f"<{outgoing.message_id}@{self.domain}>"
        if outgoing.unsubscribe_url:  # RFC 8058: mail clients offer a one-click unsubscribe
            mail["List-Unsubscribe"] = f"<{outgoing.unsubscribe_url}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(outgoing.body)
        try:
            with self._connect() as client:
                if self.smtp.username:
                    client.login(self.smtp.username, self.smtp.password)
                client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise (Retryable if all(400 <= c < 500 for c in codes) else Permanent)(f"recipient refused: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            kind = Retryable if 400 <= exc.smtp_code < 500 else Permanent
            raise kind(f"SMTP {exc.smtp_code}: {exc.smtp_error[:200]!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise Retryable(f"{type(exc).__name__}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        if self.smtp.tls == "tls":
            return smtplib.SMTP_SSL(
                self.smtp.host, self.smtp.port, timeout=SMTP_TIMEOUT_S, context=ssl.create_default_context()
            )
        client = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=SMTP_TIMEOUT_S)
        if self.smtp.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
        return client


class InboxChannel:
    """Staff's in-app inbox: the text is kept for the person to read at `GET /api/v1/inbox`."""

    name = "inbox"
    address: Address = "user"

    async def send(self, outgoing: Outgoing) -> None:
        await deliver_to_inbox(outgoing.message_id, UUID(outgoing.to), outgoing.booking_id, outgoing.subject, outgoing.body)


_channels: dict[str, Channel] = {}
_public_url = "http://127.0.0.1:8000"
_quiet_hours: QuietHours | None = None


def configure_channels(settings: Settings) -> None:
    """The built-in channels and delivery settings of this process (every process that delivers calls
    this)."""
    global _public_url, _quiet_hours
    _public_url = settings.public.url.rstrip("/")
    _quiet_hours = parse_quiet_hours(settings.notifications.quiet_hours)
    domain = urlsplit(settings.public.url).hostname or "appliance.local"
    register_channel(EmailChannel(settings.smtp, domain))
    register_channel(InboxChannel())


def public_url() -> str:
    """Where customers reach the appliance: the base of links in messages (APPLIANCE_PUBLIC_URL)."""
    return _public_url


def quiet_hours() -> QuietHours | None:
    """APPLIANCE_NOTIFICATIONS_QUIET_HOURS, read in each branch's time zone; None: no quiet hours."""
    return _quiet_hours


def register_channel(channel: Channel) -> None:
    """Add (or replace) a channel under its name: a plugin's SMS, WeCom or DingTalk sender."""
    _channels[channel.name] = channel


def unregister_channel(name: str) -> None:
    _channels.pop(name, None)


def channel(name: str) -> Channel | None:
    return _channels.get(name)
