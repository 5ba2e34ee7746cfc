"""One Piccolo app, `appliance`, holding every domain's tables and one linear migration history."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

TABLE_MODULES = [
    "appliance.catalog.tables",
    "appliance.forms.tables",
    "appliance.customers.tables",
    "appliance.bookings.tables",
    "appliance.auth.tables",
    "appliance.audit.tables",
    "appliance.events.tables",
    "appliance.automation.tables",
    "appliance.notifications.tables",
    "appliance.surveys.tables",
    "appliance.imports.tables",
    "appliance.reports.tables",
]

APP_CONFIG = AppConfig(
    app_name="appliance",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=table_finder(modules=TABLE_MODULES, exclude_imported=True),
)
