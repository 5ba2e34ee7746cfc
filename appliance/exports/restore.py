"""Restoring a full export into an empty appliance of the same schema: the archive is checked whole (every
file against the manifest's SHA-256, every table known) before anything is written, then every table is
inserted as exported, in one transaction, and the restore itself is audited."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from piccolo.table import Table

from appliance.audit.trail import add_audit_entry
from appliance.auth.actor import Actor
from appliance.core.crypto.registry import BLIND_INDEXES, SEALED, index_value, seal_value
from appliance.core.db import write_transaction
from appliance.reports.rollup import rebuild as rebuild_rollups
from appliance.core.errors import Conflict, Invalid
from appliance.db.migrate import applied_migrations
from appliance.exports.archive import FORMAT, FORMAT_VERSION, MANIFEST
from appliance.exports.catalogue import exported_tables
from appliance.exports.sealed import SealError, is_sealed, unseal
from appliance.exports.values import decoder

MAX_PARAMETERS = 30_000  # below SQLite's 32,766 and PostgreSQL's 32,767 bound parameters per statement


class ArchiveProblem(Invalid):
    """The archive cannot be restored as it is: damaged, sealed with another passphrase, or from another
    schema; nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__({"archive": message}, code="archive_refused")


@contextmanager
def opened(path: Path, passphrase: str | None) -> Iterator[zipfile.ZipFile]:
    """The archive as a ZIP file, unsealed to a temporary file first when it is sealed."""
    with path.open("rb") as source:
        sealed = is_sealed(source.read(64))
    if not sealed:
        try:
            with zipfile.ZipFile(path) as archive:
                yield archive
        except zipfile.BadZipFile as exc:
            raise ArchiveProblem(f"not an export archive: {exc}") from None
        return
    if not passphrase:
        raise ArchiveProblem("the archive is sealed: give its passphrase")
    with tempfile.TemporaryFile() as plain, path.open("rb") as source:
        try:
            for chunk in unseal(source, passphrase):
                plain.write(chunk)
        except SealError as exc:
            raise ArchiveProblem(str(exc)) from None
        plain.seek(0)
        with zipfile.ZipFile(plain) as archive:
            yield archive


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(archive.read(MANIFEST))
    except (KeyError, ValueError) as exc:
        raise ArchiveProblem("the archive has no readable manifest") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveProblem(f"not a {FORMAT} version {FORMAT_VERSION} archive")
    return manifest


def check_files(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists, whole and unaltered."""
    for name, table in manifest["tables"].items():
        for entry in table["files"]:
            digest = hashlib.sha256()
            try:
                with archive.open(entry["path"]) as member:
                    while piece := member.read(1024 * 1024):
                        digest.update(piece)
            except KeyError:
                raise ArchiveProblem(f"{entry['path']} is missing") from None
            if digest.hexdigest() != entry["sha256"]:
                raise ArchiveProblem(f"{entry['path']} does not match the manifest: altered or damaged")


async def restore(path: Path, *, passphrase: str | None, actor: Actor) -> dict[str, int]:
    """Rows restored per table. Refuses (ArchiveProblem, Conflict) before writing anything."""
    with opened(path, passphrase) as archive:
        manifest = read_manifest(archive)
        check_files(archive, manifest)
        here = max(await applied_migrations(), default="")
        if manifest["schema"] != here:
            raise ArchiveProblem(
                f"the archive is of schema {manifest['schema'] or 'none'}, this appliance of {here or 'none'}: "
                "restore into an appliance of the same release"
            )
        tables = exported_tables()
        names = [t._meta.tablename for t in tables]
        if unknown := sorted(set(manifest["tables"]) - set(names)):
            raise ArchiveProblem(f"tables this appliance does not have: {', '.join(unknown)}")
        if missing := sorted(set(names) - set(manifest["tables"])):
            raise ArchiveProblem(f"tables missing from the archive: {', '.join(missing)}")
        if occupied := [t._meta.tablename for t in tables if await t.count() > 0]:
            raise Conflict(
                f"restoring needs an empty appliance (run `appliance migrate` on a new database); "
                f"this one has rows in {', '.join(occupied)}", code="not_empty",
            )
        restored: dict[str, int] = {}
        async with write_transaction():
            for table in tables:
                columns = manifest["tables"][table._meta.tablename]["columns"]
                restored[table._meta.tablename] = await _insert_table(archive, table, columns)
            await rebuild_rollups()
            await add_audit_entry(
                "data.imported", actor=actor,
                details={"schema": here, "rows": sum(restored.values()), "exported_at": manifest["created_at"]},
            )
    return restored


async def _insert_table(archive: zipfile.ZipFile, table: type[Table], columns: list[str]) -> int:
    by_name = {c._meta.db_column_name: c for c in table._meta.columns}
    # An export holds personal data opened and no blind indexes: sealed again here under this appliance's
    # key ring, the blind indexes computed with its blind-index key.
    name = table._meta.tablename
    indexes = {spec.column: spec for spec in BLIND_INDEXES.get(name, ())}
    if sorted(columns) != sorted(set(by_name) - set(indexes)):
        raise ArchiveProblem(f"{table._meta.tablename}: its columns differ from this appliance's")
    sealed = [c for c in columns if c in SEALED.get(name, {})]
    columns = [*columns, *indexes]
    decoders = [decoder(by_name[c]) for c in columns]
    batch = max(1, min(1000, MAX_PARAMETERS // len(columns)))
    row_sql = "(" + ", ".join("{}" for _ in columns) + ")"
    head = f'INSERT INTO "{table._meta.tablename}" (' + ", ".join(f'"{c}"' for c in columns) + ") VALUES "
    count, pending = 0, []
    with archive.open(f"tables/{table._meta.tablename}.jsonl") as member:
        for line in member:
            record = json.loads(line)
            if sealed:
                plain = dict(record)
                record |= {c: seal_value(name, c, record["id"], record[c]) for c in sealed}
                record |= {c: index_value(name, spec, plain[spec.source]) for c, spec in indexes.items()}
            pending.append([decode(record[c]) for decode, c in zip(decoders, columns, strict=True)])
            if len(pending) == batch:
                count += await _insert(table, head, row_sql, pending)
                pending = []
    if pending:
        count += await _insert(table, head, row_sql, pending)
    return count


async def _insert(table: type[Table], head: str, row_sql: str, rows: list[list[Any]]) -> int:
    await table.raw(head + ", ".join(row_sql for _ in rows), *(v for row in rows for v in row))
    return len(rows)
