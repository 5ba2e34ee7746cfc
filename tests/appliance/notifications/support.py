"""Helpers of the notification tests: the channels pointed at the test mail server, a booking to send about."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import httpx
from zoneinfo import ZoneInfo

from appliance.notifications.channels import configure_channels
from appliance.settings import Settings
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service
from tests.conftest import make_settings
from tests.smtp_server import MailServer

SHANGHAI = ZoneInfo("Asia/Shanghai")


def point_channels(settings: Settings, server: MailServer, **env: str) -> None:
    """This process's channels as an appliance with the test mail server (and `env`) would have them."""
    configure_channels(make_settings(
        settings.database_url, APPLIANCE_SMTP_HOST="127.0.0.1", APPLIANCE_SMTP_PORT=str(server.port),
        APPLIANCE_SMTP_TLS="none", APPLIANCE_SMTP_FROM="静安店 <noreply@shop.example>",
        APPLIANCE_PUBLIC_URL="https://book.shop.example", **env,
    ))


async def book(email: str | None = "han.meimei@example.com", n: int = 0, *, staff_user: UUID | None = None) -> UUID:
    """A booking five days ahead at 14:30 in 静安店 (Shanghai), its staff member optionally a user."""
    branch = await make_branch("静安店")
    await make_resource(branch.id, user_id=staff_user)
    service = await make_service(branch.id, "精油按摩")
    day = datetime.now(SHANGHAI).date() + timedelta(days=5)
    starts_at = datetime(day.year, day.month, day.day, 14, 30, tzinfo=SHANGHAI)
    return await make_booking(service.id, starts_at, phone=f"+86139000000{n:02d}", email=email)


def problems(response: httpx.Response) -> dict[str, str]:
    """A 422 problem's errors by field."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in response.json()["errors"]}
