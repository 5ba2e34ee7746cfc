"""Opt-outs become consent: every `opt_out` row is a customer's refusal of that channel in
`customer_consent` (the one record of consent; the opt_out table goes in the next migration). Plus the
communication log's index (customer, newest first). Kept apart from the table migrations: Piccolo runs
raw steps before table steps."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-26T20:04:10:000000"
VERSION = "1.38.0"
DESCRIPTION = "opt-outs copied into customer consent; interactions by customer and time"

_COPY = (
    "INSERT INTO customer_consent (id, customer, purpose, granted, source, name, changed_at) "
    "SELECT o.id, o.customer, o.channel, {false}, o.source, o.name, o.created_at FROM opt_out o "
    "WHERE o.customer IN (SELECT id FROM customer)"
)
_INDEX = "CREATE INDEX customer_interaction_customer_at ON customer_interaction (customer, at)"
_BACK = ["DROP INDEX customer_interaction_customer_at", "DELETE FROM customer_consent"]


async def forwards() -> MigrationManager:
    return sql_migration(
        ID, DESCRIPTION,
        {"postgresql": [_COPY.format(false="false"), _INDEX], "sqlite": [_COPY.format(false="0"), _INDEX]},
        {"postgresql": _BACK, "sqlite": _BACK},
    )
