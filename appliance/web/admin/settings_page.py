"""The owner's read-only settings: the effective configuration as `appliance check` prints it (secrets
and URL passwords masked), grouped, each with the environment variable that changes it, and the key ring
as `appliance keys status` tells it (key ids and dates, never key material)."""

from __future__ import annotations

from itertools import groupby

from litestar import Controller, get
from litestar.response import Template

from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.crypto.reseal import count_stale
from appliance.core.keyring import KeyRingError, load_keyring
from appliance.keys.status import keyring_lines, sealing_lines
from appliance.settings import Settings, effective_settings, setting_specs
from appliance.web.admin.shell import admin_page
from appliance.web.templating import AnyRequest


def _groups(settings: Settings) -> list[tuple[str, list[tuple[str, str]]]]:
    """(group, [(env name, printable value)]) in the order `check` prints them."""
    rows = zip(setting_specs(), effective_settings(settings), strict=True)
    return [(group, [shown for _, shown in items]) for group, items in groupby(rows, key=lambda row: row[0].group)]


async def _keyring_status(settings: Settings) -> tuple[list[str], str | None]:
    try:
        keyring = load_keyring(settings.keyring_path)
    except KeyRingError as exc:
        return [], f"{exc} (`appliance keys init` creates one)"
    lines = keyring_lines(settings, keyring)
    if keyring.data_keys:
        lines += sealing_lines(settings, await count_stale())
    return lines, None


class SettingsPage(Controller):
    path = "/admin/settings"
    include_in_schema = False

    # The owners' operational permission: who reads the metrics reads how the appliance is configured.
    @get("/", opt=requires(Permission.metrics_read))
    async def settings(self, request: AnyRequest) -> Template:
        settings: Settings = request.app.state.settings
        keys, keys_problem = await _keyring_status(settings)
        engine = "SQLite" if settings.database_url.startswith("sqlite") else "PostgreSQL"
        return admin_page(request, "admin/settings/settings.html", {
            "groups": _groups(settings), "keys": keys, "keys_problem": keys_problem, "engine": engine,
            "embedded": settings.embedded,
        }, section="settings")
