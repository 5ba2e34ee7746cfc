"""A full export: every table (see `catalogue`) as JSON Lines and CSV in one ZIP archive with a manifest
(rows, columns and the SHA-256 of every file), read from one consistent snapshot and produced as a stream
of bytes in constant memory — rows are read in keyed batches and the archive is written as it goes,
optionally sealed with a passphrase (`sealed`)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from piccolo.table import Table

from appliance import __version__
from appliance.core.clock import utc_now
from appliance.core.crypto.registry import BLIND_INDEXES, SEALED, open_value
from appliance.core.db import current_dialect, current_engine
from appliance.db.migrate import applied_migrations
from appliance.exports.catalogue import EXCLUDED, exported_tables
from appliance.exports.sealed import SealingWriter
from appliance.exports.values import csv_cell, encoder

FORMAT = "booking-appliance-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BATCH = 1000
CSV_IN_MEMORY = 8 * 1024 * 1024  # a table's CSV beyond this waits on disk until its turn in the archive
COPY_CHUNK = 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"  # Excel reads UTF-8 CSV as such only with it


class _Sink:
    """What the ZIP writer writes to: bytes collected until the stream takes them."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class _Sealed:
    """The ZIP writer's file when the archive is sealed: plaintext in, sealed frames to the sink."""

    def __init__(self, passphrase: str, sink: _Sink) -> None:
        self._writer = SealingWriter(passphrase, sink.write)

    def write(self, data: bytes) -> int:
        return self._writer.write(bytes(data))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._writer.close()


@dataclass
class FileEntry:
    path: str
    sha256: str
    bytes: int


@dataclass
class TableEntry:
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)


@dataclass
class Manifest:
    tables: dict[str, TableEntry] = field(default_factory=dict)

    def as_json(self, schema: str) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "appliance_version": __version__,
            "schema": schema, "engine": current_dialect(), "created_at": utc_now().isoformat(),
            "tables": {
                name: {"rows": t.rows, "columns": t.columns, "files": [vars(f) for f in t.files]}
                for name, t in self.tables.items()
            },
            "excluded": dict(EXCLUDED),
        }


@asynccontextmanager
async def snapshot() -> AsyncIterator[None]:
    """One read-only transaction that sees the database as it was when it began, whatever commits meanwhile
    (PostgreSQL: repeatable read; SQLite in WAL mode: a read transaction keeps its snapshot)."""
    engine = current_engine()
    async with engine.transaction():
        if current_dialect() == "postgresql":
            await engine.run_ddl("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


async def table_batches(table: type[Table], where: str = "", args: Sequence[Any] = ()) -> AsyncIterator[list[dict[str, Any]]]:
    """The table's rows in primary-key order, BATCH at a time, keyed on the last key seen."""
    name, key = table._meta.tablename, table._meta.primary_key._meta.db_column_name
    columns = ", ".join(f'"{c._meta.db_column_name}"' for c in table._meta.columns)
    condition = f"({where}) AND " if where else ""
    last: Any = None
    while True:
        after = f'"{key}" > {{}}' if last is not None else "TRUE"
        rows = await table.raw(
            f'SELECT {columns} FROM "{name}" WHERE {condition}{after} ORDER BY "{key}" LIMIT {BATCH}',
            *args, *([last] if last is not None else []),
        )
        if not rows:
            return
        yield rows
        if len(rows) < BATCH:
            return
        last = rows[-1][key]


def exported_value(table: str, column: str, row_id: object, stored: Any) -> Any:
    """A sealed column's value as an export holds it: opened, as JSON (a date as ISO text)."""
    value = open_value(table, column, row_id, stored)
    return value.isoformat() if hasattr(value, "isoformat") else value


class Export:
    """One archive: iterate `chunks()` for its bytes; `manifest` is complete once they are all out."""

    def __init__(self, *, passphrase: str | None = None, tables: list[type[Table]] | None = None) -> None:
        self.passphrase = passphrase
        self.tables = tables if tables is not None else exported_tables()
        self.manifest = Manifest()
        self._where: dict[str, tuple[str, Sequence[Any]]] = {}

    def restrict(self, table: type[Table], where: str, args: Sequence[Any]) -> None:
        """Only the rows of `table` matching a SQL condition (with {} placeholders): per-customer exports."""
        self._where[table._meta.tablename] = (where, args)

    async def chunks(self) -> AsyncIterator[bytes]:
        sink = _Sink()
        target: _Sink | _Sealed = _Sealed(self.passphrase, sink) if self.passphrase else sink
        archive = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)  # type: ignore[call-overload]
        async with snapshot():
            schema = max(await applied_migrations(), default="")
            for table in self.tables:
                async for piece in self._table(archive, table, sink):
                    yield piece
        manifest = json.dumps(self.manifest.as_json(schema), ensure_ascii=False, indent=2).encode()
        archive.writestr(MANIFEST, manifest)
        archive.close()
        if isinstance(target, _Sealed):
            target.close()
        yield sink.drain()

    async def _table(self, archive: zipfile.ZipFile, table: type[Table], sink: _Sink) -> AsyncIterator[bytes]:
        name = table._meta.tablename
        # Blind indexes are left out: they are computed with this appliance's key, and a restore computes
        # them with its own.
        derived = {spec.column for spec in BLIND_INDEXES.get(name, ())}
        columns = [c for c in table._meta.columns if c._meta.db_column_name not in derived]
        names = [c._meta.db_column_name for c in columns]
        encoders = [encoder(c) for c in columns]
        # Personal data leaves sealed columns opened: an export is the data itself, readable without the
        # key ring (protect it with a passphrase).
        sealed = {n: i for i, n in enumerate(names) if n in SEALED.get(name, {})}
        entry = self.manifest.tables[name] = TableEntry(columns=names)
        jsonl = f"tables/{name}.jsonl"
        jsonl_hash, jsonl_size = hashlib.sha256(), 0
        csv_hash = hashlib.sha256(UTF8_BOM)
        with tempfile.SpooledTemporaryFile(max_size=CSV_IN_MEMORY) as spool:
            csv_size = spool.write(UTF8_BOM) + _write_csv(spool, csv_hash, [names])
            with archive.open(jsonl, "w", force_zip64=True) as member:
                where, args = self._where.get(name, ("", ()))
                async for rows in table_batches(table, where, args):
                    values = [[enc(row[n]) for enc, n in zip(encoders, names, strict=True)] for row in rows]
                    if sealed:
                        for row, exported in zip(rows, values, strict=True):
                            for column, index in sealed.items():
                                exported[index] = exported_value(name, column, row["id"], row[column])
                    text = "".join(
                        json.dumps(dict(zip(names, v, strict=True)), ensure_ascii=False, separators=(",", ":")) + "\n"
                        for v in values
                    ).encode()
                    member.write(text)
                    jsonl_hash.update(text)
                    jsonl_size += len(text)
                    csv_size += _write_csv(spool, csv_hash, [[csv_cell(x) for x in v] for v in values])
                    entry.rows += len(rows)
                    yield sink.drain()
            entry.files.append(FileEntry(jsonl, jsonl_hash.hexdigest(), jsonl_size))
            path = f"tables/{name}.csv"
            spool.seek(0)
            with archive.open(path, "w", force_zip64=True) as member:
                while piece := spool.read(COPY_CHUNK):
                    member.write(piece)
                    yield sink.drain()
            entry.files.append(FileEntry(path, csv_hash.hexdigest(), csv_size))


def _write_csv(spool: IO[bytes], digest: Any, rows: list[list[str]]) -> int:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    data = text.getvalue().encode("utf-8")
    digest.update(data)
    return spool.write(data)
