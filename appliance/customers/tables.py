"""The customer record bookings point to.

Lookups by phone and email go through `customers.queries.find_customer_ids`, so blind indexes
(field encryption) can replace these plain columns without touching callers.
"""

from __future__ import annotations

from piccolo.columns import UUID, Timestamptz, Varchar
from piccolo.table import Table


class Customer(Table):
    id = UUID(primary_key=True)
    name = Varchar(length=200, default="")
    phone = Varchar(length=32, null=True, default=None, unique=True)  # E.164
    email = Varchar(length=254, null=True, default=None, index=True)
    source_channel = Varchar(length=32, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()
