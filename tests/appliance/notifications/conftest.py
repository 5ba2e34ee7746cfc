"""An SMTP server the appliance's email channel is pointed at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appliance.notifications.channels import configure_channels
from appliance.settings import Settings
from tests.appliance.notifications.support import point_channels
from tests.smtp_server import Inbox, MailServer


@pytest.fixture
def smtp(settings: Settings) -> Iterator[tuple[Inbox, MailServer]]:
    server = MailServer()
    inbox = server.inbox
    server.start()
    point_channels(settings, server)
    yield inbox, server
    server.stop()
    configure_channels(settings)  # no mail server, no quiet hours for whatever runs next
