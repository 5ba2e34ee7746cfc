"""Re-sealing stored values in batches: plaintext from before field encryption is sealed (with its blind
indexes), and values under an older key or another suite are sealed again under the key and suite that
seal now; with `reindex`, every blind index is computed again under the current blind-index key. The
migrations' data steps and `appliance keys rotate` use it; it runs while the appliance serves: each batch
is one short transaction, and a row changed meanwhile by the appliance is left as it is (its update names
the values it read)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from uuid import UUID

from appliance.core.crypto.cipher import SealError, is_sealed
from appliance.core.crypto.fields import field_crypto
from appliance.core.crypto.registry import BLIND_INDEXES, SEALED, Kind, index_value, open_value, seal_value
from appliance.core.db import run_sql, write_transaction

BATCH: Final = 500


@dataclass
class Pass:
    """What one batch (or a whole pass) did."""

    scanned: int = 0
    resealed: int = 0  # rows with at least one value sealed again
    from_plaintext: int = 0  # of those, rows that held plaintext
    last_id: str | None = None
    by_table: dict[str, int] = field(default_factory=dict)


def legacy_value(kind: Kind, stored: Any) -> Any:
    """A value written before field encryption, as the application holds it."""
    if kind == "json":
        return json.loads(stored) if isinstance(stored, str) else stored
    return stored if kind == "text" else str(stored)


def _row_id(text: str) -> UUID | str:
    """A row id as its column holds it: a UUID, or text for the few tables keyed by a name."""
    try:
        return UUID(text)
    except ValueError:
        return text


def _needs(stored: Any) -> str | None:
    """Why a stored value must be (re-)sealed: 'plaintext', 'stale', or None (empty or current)."""
    if stored is None or stored == "":
        return None
    if not is_sealed(stored):
        return "plaintext"
    return None if field_crypto().is_current(stored) else "stale"


def _changes(table: str, row: Mapping[str, Any], *, reindex: bool = False) -> tuple[dict[str, Any], bool]:
    row_id = str(row["id"])
    columns = SEALED[table]
    changed: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    legacy = False
    for column, kind in columns.items():
        why = _needs(row[column])
        if why == "plaintext":
            legacy = True
            plain[column] = legacy_value(kind, row[column])
        elif why == "stale":
            plain[column] = open_value(table, column, row_id, row[column])
        if why is not None:
            changed[column] = seal_value(table, column, row_id, plain[column])
    for spec in BLIND_INDEXES.get(table, ()):
        source = row[spec.source]
        if spec.source in plain:
            value = plain[spec.source]
        elif source is None or source == "":
            value = None
        elif row[spec.column] is not None and not reindex:
            continue  # sealed and indexed already
        else:
            value = open_value(table, spec.source, row_id, source)
        wanted = index_value(table, spec, value)
        if wanted != row[spec.column]:
            changed[spec.column] = wanted
    return changed, legacy


def _read_columns(table: str, changed: Mapping[str, Any]) -> list[str]:
    """The sealed columns an update of `changed` was computed from: itself, and the sources of indexes."""
    sources = {spec.source for spec in BLIND_INDEXES.get(table, ()) if spec.column in changed}
    return [c for c in SEALED[table] if c in changed or c in sources]


async def reseal_batch(table: str, *, after: str | None, batch: int = BATCH, reindex: bool = False) -> Pass:
    """One batch of `table` in id order after `after`, in one transaction."""
    indexes = [spec.column for spec in BLIND_INDEXES.get(table, ())]
    columns = ["id", *SEALED[table], *indexes]
    select = ", ".join(f'"{c}"' for c in columns)
    where = "WHERE id > {} " if after is not None else ""
    done = Pass()
    async with write_transaction():
        rows = await run_sql(
            f'SELECT {select} FROM "{table}" {where}ORDER BY id LIMIT {int(batch)}', *([_row_id(after)] if after else [])
        )
        for row in rows:
            changed, legacy = _changes(table, row, reindex=reindex)
            done.scanned += 1
            done.last_id = str(row["id"])
            if not changed:
                continue
            sets = ", ".join(f'"{c}" = {{}}' for c in changed)
            # Only if the values read are still there: the appliance may have written the row meanwhile.
            read = _read_columns(table, changed)
            guards = " AND ".join(f'"{c}" = {{}}' if row[c] is not None else f'"{c}" IS NULL' for c in read)
            guard_values = [row[c] for c in read if row[c] is not None]
            await run_sql(
                f'UPDATE "{table}" SET {sets} WHERE id = {{}}' + (f" AND {guards}" if guards else ""),
                *changed.values(), row["id"], *guard_values,
            )
            done.resealed += 1
            done.from_plaintext += int(legacy)
    return done


async def reseal_all(*, batch: int = BATCH, tables: Iterable[str] = SEALED, reindex: bool = False) -> Pass:
    """Every table of the registry (or those given), whole: what the migrations' data steps run."""
    total = Pass()
    for table in tables:
        after: str | None = None
        while True:
            step = await reseal_batch(table, after=after, batch=batch, reindex=reindex)
            total.scanned += step.scanned
            total.resealed += step.resealed
            total.from_plaintext += step.from_plaintext
            total.by_table[table] = total.by_table.get(table, 0) + step.resealed
            if step.scanned < batch:
                break
            after = step.last_id
    return total


async def _rows(table: str, columns: Iterable[str], batch: int) -> AsyncIterator[Mapping[str, Any]]:
    """Every row of `table` (these columns and its id), read in batches of `batch` in id order."""
    select = ", ".join(f'"{c}"' for c in ("id", *columns))
    after = None
    while True:
        where = "WHERE id > {} " if after is not None else ""
        rows = await run_sql(
            f'SELECT {select} FROM "{table}" {where}ORDER BY id LIMIT {int(batch)}', *([after] if after else [])
        )
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = rows[-1]["id"]


def _is_stale(table: str, row: Mapping[str, Any]) -> bool:
    try:
        return any(_needs(row[c]) for c in SEALED[table])
    except SealError:
        return True


async def count_stale(*, batch: int = 5000) -> dict[str, int]:
    """Rows per table with a value in plaintext or not under the current key and suite."""
    return {table: sum([_is_stale(table, row) async for row in _rows(table, SEALED[table], batch)]) for table in SEALED}


async def count_unindexed(*, batch: int = 5000) -> dict[str, int]:
    """Rows per table with a blind index not computed under the current blind-index key."""
    found: dict[str, int] = {}
    for table, specs in BLIND_INDEXES.items():
        indexes = [spec.column for spec in specs]
        rows = _rows(table, [*SEALED[table], *indexes], batch)
        found[table] = sum([any(c in _changes(table, row, reindex=True)[0] for c in indexes) async for row in rows])
    return found
