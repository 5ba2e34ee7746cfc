"""Sealed secrets, data step: seal the TOTP secrets of user accounts and the link-signing key written
before they were sealed (`core.crypto.reseal`). The same work is `appliance keys seal`."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T02:40:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "sealed secrets: seal existing TOTP secrets and the link-signing key"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)

    async def seal_existing() -> None:
        from appliance.core.crypto.reseal import reseal_all

        await reseal_all(tables=("app_user", "link_key"))

    manager.add_raw(seal_existing)
    return manager
