"""The Piccolo app collecting every domain's tables, its migrations, and opening the database."""

from __future__ import annotations

import os

from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine

from appliance.core.db import engine_for_url, use_engine
from appliance.settings import Settings

# Piccolo's migration machinery finds the engine through this module.
os.environ.setdefault("PICCOLO_CONF", "appliance.db.piccolo_conf")


def open_database(settings: Settings) -> Engine:  # type: ignore[type-arg]
    """Create the configured engine and bind every table (and Piccolo's migration table) to it; configure
    field encryption (the key ring is read, or created, when personal data is first sealed or opened)."""
    from appliance.core.crypto import configure_field_encryption
    from appliance.db.piccolo_app import APP_CONFIG

    configure_field_encryption(settings.keyring_path, settings.crypto.suite)
    engine = engine_for_url(
        settings.database_url,
        pool_min_size=settings.database.pool_min_size,
        pool_max_size=settings.database.pool_max_size,
    )
    use_engine(engine, [*APP_CONFIG.table_classes, Migration])
    return engine
