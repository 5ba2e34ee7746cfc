"""Field encryption, data step: seal every personal value written before field encryption (customers'
profiles, notes and logged interactions, bookings' answers and notes) and compute the customers' blind
indexes, in batches (`core.crypto.reseal`). The key ring is read, or created, only when there is a row to
seal. Kept apart from the column changes: Piccolo runs raw steps before table steps. The same work is
`appliance keys seal` (for rows restored or written by an older release later)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-26T23:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "field encryption: seal existing personal data"
TABLES = ("customer", "customer_note", "customer_interaction", "booking", "inbox_item", "survey_answer")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)

    async def seal_existing() -> None:
        from appliance.core.crypto.reseal import reseal_all

        # The tables sealed at this release; those whose values were sealed later have their own data steps.
        await reseal_all(tables=TABLES)

    manager.add_raw(seal_existing)
    return manager
