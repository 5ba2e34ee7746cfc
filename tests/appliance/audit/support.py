"""Writing audit entries the way actions do, and reading back what the sealer made of them."""

from __future__ import annotations

from typing import Any

from appliance.audit.logic import entry_line, entry_record
from appliance.audit.merkle import Frontier, Hasher
from appliance.audit.sealing import ENTRY_COLUMNS
from appliance.audit.tables import AuditEntry
from appliance.audit.trail import add_audit_entry
from appliance.auth.actor import Actor, cli_actor
from appliance.core.db import write_transaction
from appliance.events.envelope import Subject


async def write_entries(count: int, *, action: str = "booking.created", actor: Actor | None = None, start: int = 0) -> None:
    """`count` entries, each in its own transaction, with a little of everything a real one holds."""
    for number in range(start, start + count):
        async with write_transaction():
            await add_audit_entry(
                action, actor=actor or cli_actor(), target=Subject("booking", f"b-{number}"),
                changed_fields=["status", "starts_at"], details={"number": number, "channel": "web", "note": "预约"},
                reason="=HYPERLINK(\"x\")" if number == 2 else "",
            )


async def sealed_rows() -> list[dict[str, Any]]:
    return list(
        await AuditEntry.select(*ENTRY_COLUMNS, AuditEntry.seq, AuditEntry.leaf_hash)
        .where(AuditEntry.seq.is_not_null()).order_by(AuditEntry.seq).output(load_json=True)
    )


def recomputed_root(rows: list[dict[str, Any]], hash_name: str = "sha256") -> bytes:
    """The root of the tree of these rows, each hashed from its canonical line (not its stored hash)."""
    hasher = Hasher(hash_name)  # type: ignore[arg-type]
    tree = Frontier(hasher)
    for row in rows:
        leaf = hasher.leaf(entry_line(entry_record(row, row["seq"])))
        assert leaf.hex() == row["leaf_hash"], row["seq"]
        tree.append(leaf)
    return tree.root()
