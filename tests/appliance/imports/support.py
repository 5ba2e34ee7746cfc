"""Helpers of the import tests: files written as a spreadsheet program would, and a job run to its end in
the test's own loop."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from uuid import UUID

from openpyxl import Workbook  # type: ignore[import-untyped]

from appliance.auth.actor import Actor, cli_actor
from appliance.imports.actions import ImportRequest, run_import, start_import
from appliance.imports.queries import get_import
from appliance.imports.schemas import Import


def csv_bytes(rows: Sequence[Sequence[object]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def imported(
    content: bytes, kind: str = "customers", *, dry_run: bool = False, on_error: str = "abort",
    mapping: dict[str, str] | None = None, actor: Actor | None = None, file_name: str = "客户.csv",
) -> Import:
    """Start an import and run it here (no broker in these tests); the finished job."""
    actor = actor or cli_actor()
    job_id = await start_import(
        ImportRequest(kind=kind, file_name=file_name, dry_run=dry_run, on_error=on_error, mapping=mapping), content,
        actor=actor,
    )
    assert await run_import(job_id)
    return await get_import(job_id, actor=actor)


