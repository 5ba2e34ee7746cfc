"""Field encryption: the customer's personal columns and bookings' answers become text holding sealed
values, blind-index columns replace the plain phone index and `phone_last4`.

PostgreSQL changes the column types (values are kept as text). SQLite cannot alter or drop a UNIQUE
column, nor add one: there the column types stay as they are (SQLite stores any text in any column) but
for birthday (the driver parses a DATE column's text: it is rebuilt as TEXT, values kept),
`phone` keeps its old unique index (sealed values never repeat; NULLs do not clash), and the new columns
and their indexes are added by the statements below. Existing plaintext values are sealed by the next
migration (2026-11-26T23:00:01), a data step."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from appliance.core.db import current_dialect, current_engine
from piccolo.columns.column_types import Date
from piccolo.columns.column_types import JSON
from piccolo.columns.column_types import Text
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-26T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "field encryption: sealed personal columns, blind indexes"

SQLITE = [
    "DROP INDEX IF EXISTS customer_phone_last4",
    "ALTER TABLE customer DROP COLUMN phone_last4",
    "DROP INDEX IF EXISTS customer_email",
    # A column declared DATE has its text parsed as a date by the driver: birthday becomes TEXT, values kept.
    "ALTER TABLE customer ADD COLUMN birthday_text TEXT DEFAULT NULL",
    "UPDATE customer SET birthday_text = birthday",
    "ALTER TABLE customer DROP COLUMN birthday",
    "ALTER TABLE customer ADD COLUMN birthday TEXT DEFAULT NULL",
    "UPDATE customer SET birthday = birthday_text",
    "ALTER TABLE customer DROP COLUMN birthday_text",
    *(
        statement
        for column, unique in (("name_bidx", ""), ("phone_bidx", "UNIQUE "), ("phone_last4_bidx", ""), ("email_bidx", ""))
        for statement in (
            f"ALTER TABLE customer ADD COLUMN {column} VARCHAR(32) DEFAULT NULL",
            f"CREATE {unique}INDEX customer_{column} ON customer ({column})",
        )
    ),
]


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="appliance", description=DESCRIPTION
    )

    manager.drop_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="phone_last4",
        db_column_name="phone_last4",
        schema=None,
    )

    manager.add_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="email_bidx",
        db_column_name="email_bidx",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
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
        column_name="name_bidx",
        db_column_name="name_bidx",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
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
        column_name="phone_bidx",
        db_column_name="phone_bidx",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": True,
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
        column_name="phone_last4_bidx",
        db_column_name="phone_last4_bidx",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.alter_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="name",
        db_column_name="name",
        params={},
        old_params={},
        column_class=Text,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="phone",
        db_column_name="phone",
        params={"unique": False},
        old_params={"unique": True},
        column_class=Text,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="email",
        db_column_name="email",
        params={"index": False},
        old_params={"index": True},
        column_class=Text,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="birthday",
        db_column_name="birthday",
        params={},
        old_params={},
        column_class=Text,
        old_column_class=Date,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="custom_fields",
        db_column_name="custom_fields",
        params={"default": ""},
        old_params={"default": "{}"},
        column_class=Text,
        old_column_class=JSON,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="gender",
        db_column_name="gender",
        params={},
        old_params={},
        column_class=Text,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="preferences",
        db_column_name="preferences",
        params={"default": ""},
        old_params={"default": "{}"},
        column_class=Text,
        old_column_class=JSON,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Booking",
        tablename="booking",
        column_name="answers",
        db_column_name="answers",
        params={"default": ""},
        old_params={"default": "{}"},
        column_class=Text,
        old_column_class=JSON,
        schema=None,
    )

    if current_dialect() == "sqlite":

        async def run(backwards: bool = False) -> None:
            if backwards:
                raise NotImplementedError("field encryption is not undone on SQLite")
            for statement in SQLITE:
                await current_engine().run_ddl(statement)

        manager.run = run  # type: ignore[method-assign]

    return manager
