"""Piccolo's configuration module (PICCOLO_CONF=appliance.db.piccolo_conf).

`DB` is looked up on each access, so it is always the engine `core.db` currently uses.
"""

from __future__ import annotations

from typing import Any

from piccolo.conf.apps import AppRegistry

APP_REGISTRY = AppRegistry(apps=["appliance.db.piccolo_app"])


def __getattr__(name: str) -> Any:
    if name != "DB":
        raise AttributeError(name)
    from appliance.core import db

    if db._engine is None:  # the Piccolo CLI, run outside the appliance
        from appliance.db import open_database
        from appliance.settings import load_settings

        open_database(load_settings())
    return db.current_engine()
