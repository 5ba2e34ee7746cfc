"""Which tables a full export holds, in an order an import can insert them (every table after the ones
its foreign keys point to), and which it leaves out and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from piccolo.table import Table

from appliance.db.piccolo_app import APP_CONFIG
from appliance.reports.rollup_sql import TABLES as ROLLUP_TABLES

# Ephemeral state that must not outlive the appliance it was made on.
EXCLUDED: Final[Mapping[str, str]] = {
    "session_record": "signed-in sessions: a restored appliance starts with everybody signed out",
    "idempotency_record": "replay answers kept for 24 hours; they hold booking manage links in clear",
    **{table: "report rollups, derived from the bookings: rebuilt after a restore" for table in ROLLUP_TABLES},
    "report_stale": "which report rollups changes left stale: a restore rebuilds them all",
}


def exported_tables() -> list[type[Table]]:
    """Every table but the excluded ones, referenced tables first, ties by name (a stable order)."""
    tables = {t._meta.tablename: t for t in APP_CONFIG.table_classes if t._meta.tablename not in EXCLUDED}
    ordered: list[type[Table]] = []
    placed: set[str] = set()

    def place(name: str, path: tuple[str, ...]) -> None:
        if name in placed:
            return
        if name in path:
            raise ValueError(f"foreign keys form a cycle: {' -> '.join((*path, name))}")
        table = tables[name]
        for column in table._meta.foreign_key_columns:
            target = column._foreign_key_meta.resolved_references._meta.tablename
            if target != name and target in tables:
                place(target, (*path, name))
        placed.add(name)
        ordered.append(table)

    for name in sorted(tables):
        place(name, ())
    return ordered
