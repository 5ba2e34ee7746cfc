"""A customer keeps the profile form and version its custom fields were checked against."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import UUID
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Form(Table, tablename="form", schema=None):
    id = UUID(
        default=UUID4(),
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name=None,
        secret=False,
    )


ID = "2026-11-27T05:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "customer.custom_fields_form and customer.custom_fields_form_version"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="appliance", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="custom_fields_form",
        db_column_name="custom_fields_form",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Form,
            "on_delete": OnDelete.restrict,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="custom_fields_form_version",
        db_column_name="custom_fields_form_version",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
