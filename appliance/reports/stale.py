"""Stale marks: a change the reports must see notes, in its own transaction and in one statement, the booking
starts it touched (`report_stale`); the rollups of those local days are derived again later — by `run_report`
before it reads (the marks of its branches and period), and by the sweeper, oldest marks first. A booking
change so costs one INSERT, not a day's derivation, and a report still reads exact rollups.

A refresh reads its marks, derives their days (for their customers) and deletes those marks by id, in one
transaction: a change committed meanwhile keeps its mark for the next refresh, whichever rows the one under
way happened to see. Two refreshes of one day are serialised by the rollups' advisory locks (rollup.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.core.db import (
    current_dialect, instant_value, run_sql, uuid_value, write_at_commit, write_transaction,
)
from appliance.events.envelope import Envelope
from appliance.events.listeners import listen
from appliance.reports.logic import period_bounds
from appliance.reports.rollup import branch_zones, rebuild, refresh_at

SWEEP_BATCH: Final = 5_000  # marks a sweeper pass takes in: a few hundred days at most, a second or so
_SWEEP_LOCK: Final = "reports.stale.sweep"  # one sweeper at a time takes the oldest marks (PostgreSQL)
# Events about a customer that move bookings between customers (a merge, its undo): both sides derive again.
MOVES_BOOKINGS: Final = frozenset({"customer.merged", "customer.merge_undone"})
# Events about a booking that can change what the reports count (a fired timer, say, changes nothing).
CHANGES_A_BOOKING: Final = ("booking.", "survey.answered")
_MARK: Final = "INSERT INTO report_stale (branch, starts_at, customer) "


async def mark_booking(booking_id: UUID, *, previous_start: datetime | None = None) -> None:
    """The booking's start as this transaction leaves it (read from the row at its commit, whatever an event's
    data says: in the statement of its audit entries and events on PostgreSQL, no round trip of its own),
    and the start it left on a reschedule."""
    text = _MARK + "SELECT branch, starts_at, customer FROM booking WHERE id = {}"
    args: list[Any] = [booking_id]
    if previous_start is not None:
        # A bound value in a select list has no type on PostgreSQL; SQLite stores what it is given.
        instant = "CAST({} AS TIMESTAMPTZ)" if current_dialect() == "postgresql" else "{}"
        text += f" UNION ALL SELECT branch, {instant}, customer FROM booking WHERE id = {{}}"
        args += [previous_start, booking_id]
    await write_at_commit(text, *args)


async def mark_customers(first: UUID, second: UUID) -> None:
    """Every booking start of either customer, once for each of them: their bookings moved between them (a
    merge, its undo), so both customers' days and first visits are derived again."""
    await run_sql(
        _MARK + "SELECT b.branch, b.starts_at, c.id FROM booking b JOIN customer c ON c.id IN ({}, {})"
        " WHERE b.customer IN ({}, {})", first, second, first, second,
    )


async def _refresh(where: str, args: Sequence[Any], *, limit: int | None = None) -> int:
    """Take in the marks `where` selects (the oldest `limit` of them); how many there were."""
    text = f"SELECT id, branch, starts_at, customer FROM report_stale WHERE {where}"
    marks = await run_sql(text + (f" ORDER BY id LIMIT {int(limit)}" if limit else ""), *args)
    if not marks:
        return 0
    zones = await branch_zones({uuid_value(m["branch"]) for m in marks})
    starts = [(uuid_value(m["branch"]), instant_value(m["starts_at"])) for m in marks]
    async with write_transaction():
        await refresh_at(
            [(branch, moment) for branch, moment in starts if branch in zones],  # a branch deleted since: nothing
            resources=None, customers=sorted({uuid_value(m["customer"]) for m in marks}), zones=zones,
        )
        await run_sql(f"DELETE FROM report_stale WHERE id IN ({', '.join(str(int(m['id'])) for m in marks)})")
    return len(marks)


async def refresh_for_report(zones: Mapping[UUID, ZoneInfo], period: tuple[date, date] | None) -> int:
    """Before a report reads: the marks of its branches with a start in its local days, or (`period` None,
    for reports over first visits, which a change on any day can move) all marks of its branches."""
    clauses: list[str] = []
    args: list[Any] = []
    for branch, tz in sorted(zones.items()):
        if period is None:
            clauses.append("branch = {}")
            args.append(branch)
        else:
            clauses.append("(branch = {} AND starts_at >= {} AND starts_at < {})")
            args += [branch, *period_bounds(period[0], period[1], tz)]
    return await _refresh(" OR ".join(clauses), args) if clauses else 0


async def refresh_oldest(now: datetime | None = None, *, limit: int = SWEEP_BATCH) -> int:
    """The sweeper's step: the oldest `limit` marks, whatever their branch, so that marks nobody reports on
    do not pile up and a report finds few to take in. On PostgreSQL a sweeper busy with them already makes
    the others skip (they would wait on its day locks only to derive the same days again)."""
    if current_dialect() == "sqlite":  # one writer at a time already
        return await _refresh("TRUE", (), limit=limit)
    async with write_transaction():
        [lock] = await run_sql("SELECT pg_try_advisory_xact_lock(hashtext({})) AS taken", _SWEEP_LOCK)
        return await _refresh("TRUE", (), limit=limit) if lock["taken"] else 0


async def _zone_changed(branch_id: UUID, zone: str) -> bool:
    rows = await run_sql("SELECT 1 AS found FROM report_booking_day WHERE branch = {} AND zone <> {} LIMIT 1", branch_id, zone)
    return bool(rows)


async def on_change(envelope: Envelope) -> None:
    """In the change's transaction: a booking's start marked (any event about it: created, moved, reassigned,
    a status, a payment, a survey answer); a merge's customers marked; a branch whose time zone changed
    rebuilt (its days are other days now), which takes its marks with it."""
    subject, data = envelope.subject, envelope.data
    if subject.type == "booking" and envelope.type.startswith(CHANGES_A_BOOKING):
        previous = data.get("previous_starts_at")
        await mark_booking(UUID(subject.id), previous_start=datetime.fromisoformat(str(previous)) if previous else None)
    elif subject.type == "customer" and envelope.type in MOVES_BOOKINGS and data.get("duplicate_id"):
        await mark_customers(UUID(subject.id), UUID(str(data["duplicate_id"])))
    elif envelope.type == "branch.updated" and await _zone_changed(UUID(subject.id), str(data.get("timezone"))):
        await rebuild([UUID(subject.id)])


listen("reports.stale", on_change)
