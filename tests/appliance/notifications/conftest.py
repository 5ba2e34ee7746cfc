"""An SMTP server the appliance's email channel is pointed at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appliance.notifications.channels import configure_channels
from appliance.settings import Settings
from tests.conftest import make_settings
from tests.smtp_server import Inbox, MailServer


@pytest.fixture
def smtp(settings: Settings) -> Iterator[tuple[Inbox, MailServer]]:
    server = MailServer()
    inbox = server.inbox
    server.start()
    configure_channels(make_settings(
        settings.database_url, APPLIANCE_SMTP_HOST="127.0.0.1", APPLIANCE_SMTP_PORT=str(server.port),
        APPLIANCE_SMTP_TLS="none", APPLIANCE_SMTP_FROM="静安店 <noreply@shop.example>",
        APPLIANCE_PUBLIC_URL="https://book.shop.example",
    ))
    yield inbox, server
    server.stop()
