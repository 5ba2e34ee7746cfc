"""One delivery per event and subscriber, whoever fans out (the broker's message or the sweeper); one timer
per name and subject, so scheduling it again moves it; one run per event and rule."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-26T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "delivery unique per event and subscriber, timer per name and subject, rule run per event and rule"

FORWARDS = [
    "CREATE UNIQUE INDEX delivery_event_subscriber ON delivery (event, subscriber)",
    "CREATE UNIQUE INDEX timer_name_subject ON timer (name, subject_type, subject_id)",
    "CREATE UNIQUE INDEX rule_run_event_rule ON rule_run (event, rule)",
]
BACKWARDS = ["DROP INDEX rule_run_event_rule", "DROP INDEX timer_name_subject", "DROP INDEX delivery_event_subscriber"]


async def forwards() -> MigrationManager:
    return sql_migration(ID, DESCRIPTION, {"postgresql": FORWARDS, "sqlite": FORWARDS}, {"postgresql": BACKWARDS, "sqlite": BACKWARDS})
