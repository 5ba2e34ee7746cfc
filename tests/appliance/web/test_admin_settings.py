"""The owner's settings page on both engines: the configuration in effect grouped with each environment
variable's name, and the key ring's status, with no secret in the page; others are refused and not offered it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from appliance.auth.roles import Role
from appliance.settings import Settings
from tests.appliance.web.ops_support import staff
from tests.conftest import make_settings

DB_PASSWORD = "db-Pa55-never-shown"
SMTP_PASSWORD = "smtp-Pa55-never-shown"


@pytest.fixture
def settings(engine_name: str, database_urls: dict[str, str], tmp_path: Path) -> Settings:
    """Secrets set; the PostgreSQL URL carries a password (the test server trusts local connections, so it
    is not checked), SQLite has none to carry."""
    url = database_urls[engine_name].replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@")
    return make_settings(url, tmp_path / "var", APPLIANCE_SMTP_HOST="smtp.example.cn",
                         APPLIANCE_SMTP_FROM="desk@example.cn", APPLIANCE_SMTP_PASSWORD=SMTP_PASSWORD)


async def test_the_owner_reads_the_configuration_with_secrets_masked(client: httpx.AsyncClient, settings: Settings) -> None:
    await staff(client, "boss", Role.owner)

    page = await client.get("/admin/settings?lang=en")

    assert page.status_code == 200
    assert '<a href="/admin/settings"' in page.text
    assert '<h2 id="group-smtp">smtp</h2>' in page.text
    assert "<code>APPLIANCE_SMTP_HOST</code></th><td><code>smtp.example.cn</code>" in page.text
    assert "<code>APPLIANCE_SMTP_PASSWORD</code></th><td><code>********</code>" in page.text
    if settings.database_url.startswith("postgresql"):
        assert DB_PASSWORD in settings.database_url and "postgres:********@" in page.text
    for secret in (DB_PASSWORD, SMTP_PASSWORD):
        assert secret not in page.text
    assert f"key ring {settings.keyring_path} (mode 0600)" in page.text
    assert "signing key" in page.text and "data key" in page.text


async def test_the_page_is_in_chinese_for_a_chinese_owner(client: httpx.AsyncClient) -> None:
    await staff(client, "boss", Role.owner)

    page = await client.get("/admin/settings?lang=zh-CN")

    assert "<h1>设置</h1>" in page.text and "环境变量" in page.text and "密钥环" in page.text


async def test_a_manager_is_refused_and_not_offered_the_page(client: httpx.AsyncClient) -> None:
    await staff(client, "mgr", Role.manager)

    home = await client.get("/admin/catalog?lang=en")

    assert (await client.get("/admin/settings")).status_code == 403
    assert home.status_code == 200 and 'href="/admin/settings"' not in home.text
