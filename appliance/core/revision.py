"""The catalog revision: one row whose value the database itself changes, by trigger, with every write to
service, branch, form and rule (migrations 2026-11-27T06:30 and 07:00), whoever writes them. What a process
keeps of those tables (a service's booking context, the rules' timers) is usable while the revision it was
read at is still the database's. A write transaction notes the revision its statements saw, so what was kept
at that revision serves it without a statement of its own."""

from __future__ import annotations

from typing import Final

from appliance.core.db import run_sql, transaction_memo

# A scalar subquery for a select list: the revision as the same statement sees it.
REVISION_SQL: Final = "(SELECT revision FROM catalog_revision WHERE id = 1)"
_SEEN: Final = "catalog_revision"


def note_seen(revision: str | None) -> None:
    """Inside a write transaction: a statement of it read the catalog at `revision`."""
    memo = transaction_memo()
    if memo is not None and revision is not None:
        memo[_SEEN] = revision


def seen_in_transaction() -> str | None:
    """The catalog revision the surrounding write transaction last read, if it read one."""
    memo = transaction_memo()
    return None if memo is None else memo.get(_SEEN)


async def current_revision() -> str | None:
    """The catalog revision as the database has it now (None before its migration)."""
    rows = await run_sql(f"SELECT {REVISION_SQL} AS revision")
    return rows[0]["revision"] if rows else None
