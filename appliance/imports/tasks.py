"""The import job's background task; the message carries the job's id only."""

from __future__ import annotations

from uuid import UUID

from appliance.imports.actions import run_import as run
from appliance.worker.actors import task


@task("run_import", queue="default")
async def run_import(job_id: str) -> None:
    await run(UUID(job_id))
