"""Everything held about one customer, for a data-subject access request (PIPL art. 45): the same archive
format as a full export, cut to the person's rows — their record and the duplicates merged into it,
every row that points to one of those or to one of their bookings, the merges they took part in (kept
or merged away; the profile values a merge copied or kept opened like every sealed value), and the
audit entries about them or their bookings."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from piccolo.table import Table

from appliance.audit.tables import AuditEntry
from appliance.audit.trail import add_audit_entry
from appliance.auth.actor import Actor
from appliance.core.db import write_transaction
from appliance.core.errors import Invalid, NotFound
from appliance.customers.queries import records_of
from appliance.customers.tables import Customer, CustomerMerge
from appliance.events.envelope import Subject
from appliance.exports.archive import Export
from appliance.exports.catalogue import exported_tables

def subject_condition(table: type[Table], customer_ids: Sequence[UUID]) -> tuple[str, list[object]] | None:
    """The SQL condition (with its arguments) picking a table's rows about the person, held under these
    customer ids (their own and those merged into it), or None for a table that holds nothing about any
    one customer (catalog, rules, plumbing)."""
    columns = {c._meta.db_column_name for c in table._meta.columns}
    ids: list[object] = list(customer_ids)
    marks = ", ".join(["{}"] * len(ids))
    their_bookings = f"SELECT id FROM booking WHERE customer IN ({marks})"
    if table is Customer:
        return f"id IN ({marks})", ids
    if table is CustomerMerge:  # the merges they took part in, kept or merged away
        return f"survivor IN ({marks}) OR duplicate IN ({marks})", ids * 2
    if table is AuditEntry:  # targets are kept as text
        return (
            f"target_id IN ({marks}) OR target_id IN (SELECT CAST(id AS VARCHAR(64)) FROM booking WHERE customer IN ({marks}))",
            [str(i) for i in ids] + ids,
        )
    if "customer" in columns:
        return f"customer IN ({marks})", ids
    if "booking" in columns:
        return f"booking IN ({their_bookings})", ids
    return None


async def start_subject_export(customer_id: UUID, *, actor: Actor, reason: str) -> Export:
    """The customer's archive, audited with the request it answers."""
    if not reason.strip():
        raise Invalid({"reason": "say which request this answers (e.g. its reference)"})
    if not await Customer.exists().where(Customer.id == customer_id):
        raise NotFound("no such customer")
    tables, export = [], Export(tables=[])
    customer_ids = await records_of(customer_id)  # their own and the duplicates merged into it
    for table in exported_tables():
        if (found := subject_condition(table, customer_ids)) is not None:
            tables.append(table)
            export.restrict(table, *found)
    export.tables = tables
    async with write_transaction():
        await add_audit_entry(
            "customer.exported", actor=actor, target=Subject("customer", str(customer_id)), reason=reason.strip()[:500],
            details={"tables": len(tables)},
        )
    return export
