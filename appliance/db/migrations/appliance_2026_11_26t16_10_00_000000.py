"""A tag once per customer; a customer's bookings, the customer list and the points ledger in index
order; and the new customer columns filled for existing customers: last four phone digits, the facts
that are plain aggregates of their bookings, and the tier of the built-in ladder (favourite service and
staff, usual weekday and hour follow on their next booking change). Kept apart from the table
migration: Piccolo runs raw steps before table steps."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.db.raw_steps import sql_migration

ID = "2026-11-26T16:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "customer tag uniqueness, booking by customer index, customer facts backfill"

_FACTS = (
    "UPDATE customer SET "
    "visit_count = (SELECT COUNT(*) FROM booking b WHERE b.customer = customer.id AND b.status = 'completed'), "
    "no_show_count = (SELECT COUNT(*) FROM booking b WHERE b.customer = customer.id AND b.status = 'no_show'), "
    "cancellation_count = (SELECT COUNT(*) FROM booking b WHERE b.customer = customer.id AND b.status = 'cancelled'), "
    "last_visit_at = (SELECT MAX(b.starts_at) FROM booking b WHERE b.customer = customer.id AND b.status = 'completed'), "
    "lifetime_value = (SELECT COALESCE(SUM(b.price_amount), 0) FROM booking b WHERE b.customer = customer.id "
    "AND (b.payment_status = 'paid' OR (b.status = 'completed' AND b.payment_status <> 'refunded'))), "
    "phone_last4 = COALESCE({last4}, '')"
)
# The built-in ladder as it was when this migration was written (customers.logic.DEFAULT_TIERS).
_TIERS = (
    "UPDATE customer SET earned_tier = CASE WHEN lifetime_value >= 2000000 THEN 'vip' "
    "WHEN lifetime_value >= 500000 THEN 'gold' WHEN lifetime_value >= 100000 THEN 'silver' ELSE 'normal' END"
)
_TIER = "UPDATE customer SET tier = COALESCE(tier_override, earned_tier)"
_INDEXES = [
    "CREATE UNIQUE INDEX customer_tag_customer_tag ON customer_tag (customer, tag)",
    "CREATE INDEX booking_customer_starts_at ON booking (customer, starts_at)",
    "CREATE INDEX customer_created_at_id ON customer (created_at, id)",  # the list, newest first
    "CREATE INDEX points_entry_customer_created_at ON points_entry (customer, created_at)",
]
_BACK = [
    "DROP INDEX points_entry_customer_created_at", "DROP INDEX customer_created_at_id",
    "DROP INDEX booking_customer_starts_at", "DROP INDEX customer_tag_customer_tag",
]

POSTGRESQL = [*_INDEXES, _FACTS.format(last4="right(phone, 4)"), _TIERS, _TIER]
SQLITE = [*_INDEXES, _FACTS.format(last4="substr(phone, -4)"), _TIERS, _TIER]


async def forwards() -> MigrationManager:
    return sql_migration(ID, DESCRIPTION, {"postgresql": POSTGRESQL, "sqlite": SQLITE}, {"postgresql": _BACK, "sqlite": _BACK})
