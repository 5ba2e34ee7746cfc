from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import UUID, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table


class Customer(Table, tablename="customer", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True)


ID = "2026-11-27T06:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "customer phones: a customer's further phones, sealed, with the customer's blind indexes (one customer per phone)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="appliance", description=DESCRIPTION)
    manager.add_table(class_name="CustomerPhone", tablename="customer_phone", schema=None, columns=None)
    # Column defaults but for these (Piccolo's generated params spell every one out).
    columns = [
        ("id", UUID, {"default": UUID4(), "null": False, "primary_key": True}),
        ("customer", ForeignKey, {
            "references": Customer, "on_delete": OnDelete.cascade, "on_update": OnUpdate.cascade, "target_column": None,
            "null": True, "index": True,
        }),
        ("phone", Text, {"default": ""}),
        ("phone_bidx", Varchar, {"length": 32, "default": None, "null": True, "unique": True}),
        ("phone_last4_bidx", Varchar, {"length": 32, "default": None, "null": True, "index": True}),
        ("created_at", Timestamptz, {}),
    ]
    for name, column_class, params in columns:
        manager.add_column(
            table_class_name="CustomerPhone", tablename="customer_phone", column_name=name, db_column_name=name,
            column_class_name=column_class.__name__, column_class=column_class, params=params, schema=None,
        )
    return manager
