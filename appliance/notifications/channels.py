"""Ways a message leaves the appliance. Email goes over SMTP here; SMS, WeCom and DingTalk plugins
register channels of their own. A channel raises Retryable for what may pass (server down, 4xx) and
Permanent for what will not (5xx, a refused address), so the delivery machinery retries or gives up."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import urlsplit
from uuid import UUID

from appliance.events.subscribers import Permanent, Retryable
from appliance.settings import Settings, SmtpSettings

SMTP_TIMEOUT_S = 30


class NotSetUp(Permanent):
    """The channel has no configuration here: messages for it are skipped, not failed."""


@dataclass(frozen=True)
class Outgoing:
    message_id: UUID
    to: str
    subject: str
    body: str


class Channel(Protocol):
    name: str

    async def send(self, outgoing: Outgoing) -> None: ...


class EmailChannel:
    name = "email"

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


_channels: dict[str, Channel] = {}
_public_url = "http://127.0.0.1:8000"


def configure_channels(settings: Settings) -> None:
    """The built-in channels for this process's settings (every process that delivers calls this)."""
    global _public_url
    _public_url = settings.public.url.rstrip("/")
    domain = urlsplit(settings.public.url).hostname or "appliance.local"
    register_channel(EmailChannel(settings.smtp, domain))


def public_url() -> str:
    """Where customers reach the appliance: the base of links in messages (APPLIANCE_PUBLIC_URL)."""
    return _public_url


def register_channel(channel: Channel) -> None:
    _channels[channel.name] = channel


def channel(name: str) -> Channel | None:
    return _channels.get(name)
