"""Reading import jobs: the job with its progress and first problems, and all its problems as CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import msgspec

from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.core.errors import NotFound
from appliance.imports import logic, schemas
from appliance.imports.tables import ImportJob, ImportProblem

SHOWN_PROBLEMS = 100
PAGE = 2000


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


async def _job_row(job_id: UUID, actor: Actor) -> dict[str, Any]:
    """The job, if the actor may see it: an actor whose import permission spans every branch sees every
    job, others only their own (a job's problems name rows of a file another manager uploaded)."""
    row = await ImportJob.select().where(ImportJob.id == job_id).first()
    if row is None or (actor.branch_scope(Permission.data_import) is not None and row["started_by"] != actor.id):
        raise NotFound("no such import")
    return row


def _problem(row: dict[str, Any]) -> schemas.ProblemOut:
    params = _json(row["params"]) or {}
    return schemas.ProblemOut(
        row=row["row"], column=row["header"], code=row["code"], message=logic.message(row["code"], params),
        message_zh=logic.message(row["code"], params, "zh"),
    )


async def get_import(job_id: UUID, *, actor: Actor) -> schemas.Import:
    row = await _job_row(job_id, actor)
    problems = await ImportProblem.select().where(ImportProblem.job == job_id).order_by(ImportProblem.position).limit(
        SHOWN_PROBLEMS
    )
    by_code: Counter[str] = Counter()
    for counted in await ImportProblem.select(ImportProblem.code).where(ImportProblem.job == job_id):
        by_code[counted["code"]] += 1
    error_params = _json(row["error_params"]) or {}
    given = _json(row["mapping_given"])
    return schemas.Import(
        id=row["id"], kind=row["kind"], status=row["status"], dry_run=row["dry_run"], on_error=row["on_error"],
        file_name=row["file_name"], file_format=row["file_format"], encoding=row["encoding"],
        progress=schemas.Progress(phase=row["phase"], rows_done=row["rows_done"], rows_total=row["rows_total"]),
        counts=msgspec.convert(_json(row["counts"]) or {}, schemas.Counts), headers=_json(row["headers"]) or [],
        mapping=_json(row["mapping"]) or {}, guessed=given is None,
        file_problem=schemas.FileProblemOut(
            code=row["error_code"], message=logic.message(row["error_code"], error_params),
            message_zh=logic.message(row["error_code"], error_params, "zh"),
        ) if row["error_code"] else None,
        problems=[_problem(p) for p in problems], problems_by_code=dict(by_code), created_at=row["created_at"],
        started_at=row["started_at"], finished_at=row["finished_at"],
    )


async def problems_csv(job_id: UUID, *, actor: Actor) -> AsyncIterator[bytes]:
    """Every stored problem as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese right),
    a page at a time. Checks access before the first byte."""
    await _job_row(job_id, actor)

    async def lines() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["row", "column", "code", "message", "message_zh"])
        yield ("\ufeff" + buffer.getvalue()).encode()
        after = -1
        while True:
            page = await ImportProblem.select().where(
                (ImportProblem.job == job_id) & (ImportProblem.position > after)
            ).order_by(ImportProblem.position).limit(PAGE)
            if not page:
                return
            buffer.seek(0)
            buffer.truncate()
            for row in page:
                p = _problem(row)
                writer.writerow([p.row, p.column, p.code, p.message, p.message_zh])
            after = page[-1]["position"]
            yield buffer.getvalue().encode()

    return lines()
