"""A real SMTP server for tests: aiosmtpd on a loopback port, stopped and started like a real one."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes
from email.message import Message as Email
from email.policy import default as default_policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    """The server's handler: keeps what it accepts, or refuses with a given reply."""

    def __init__(self) -> None:
        self.received: list[Email] = []
        self.refuse_with: str | None = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        assert isinstance(envelope.content, bytes)
        with self._lock:
            self.received.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def to(self, address: str) -> list[Email]:
        with self._lock:
            return [m for m in self.received if m["To"] == address]

    def distinct_to(self, address: str) -> int:
        """Messages to `address` by Message-ID: a copy re-sent after a crash between the server's 250 and
        the sender recording it carries the same id, and mail clients show it once."""
        return len({m["Message-ID"] for m in self.to(address)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailServer:
    def __init__(self, inbox: Inbox | None = None) -> None:
        self.inbox, self.port = inbox or Inbox(), free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
