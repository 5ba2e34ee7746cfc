"""Catalog tables."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, Text, Timestamptz, Varchar
from piccolo.table import Table


class Branch(Table):
    """A location (门店) with its own time zone; schedules are local wall-clock time in it."""

    id = UUID(primary_key=True)
    name = Varchar(length=200)
    timezone = Varchar(length=64)
    address = Text(default="")
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
