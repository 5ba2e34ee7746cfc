"""An identity provider's subject is one account: (issuer, subject) unique in sso_identity."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-26T16:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sso_identity (issuer, subject) unique"

FORWARDS = ["CREATE UNIQUE INDEX sso_identity_issuer_subject ON sso_identity (issuer, subject)"]
BACKWARDS = ["DROP INDEX sso_identity_issuer_subject"]


async def forwards() -> MigrationManager:
    return sql_migration(
        ID, DESCRIPTION, {"postgresql": FORWARDS, "sqlite": FORWARDS}, {"postgresql": BACKWARDS, "sqlite": BACKWARDS}
    )
