"""`appliance import-data FILE --kind customers|bookings`: an import run in this process, as the host's
administrator (`appliance import` is the full-archive restore)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from appliance.cli_support import fail, run, settings_or_fail


@click.command("import-data")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(["customers", "bookings"]), required=True)
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows even if others have problems.")
@click.option("--mapping", default=None, help='Columns as JSON, field → header: {"phone": "联系电话"}.')
@click.option("--errors", "errors_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the row problems to this CSV file.")
def import_data_command(
    file: Path, kind: str, dry_run: bool, skip_invalid: bool, mapping: str | None, errors_out: Path | None
) -> None:
    """Import customers or past bookings from a CSV (UTF-8 or GBK) or XLSX FILE, as `POST /api/v1/imports`
    does but here and now; prints the counts. See docs/imports.md."""
    from appliance.auth.actor import cli_actor
    from appliance.imports.actions import ImportRequest, run_import, start_import
    from appliance.imports.queries import get_import, problems_csv
    from appliance.imports.schemas import Import

    try:
        columns = json.loads(mapping) if mapping else None
    except json.JSONDecodeError:
        fail('--mapping is not JSON; write it as {"phone": "联系电话"}')
    actor = cli_actor()

    async def work() -> Import:
        request = ImportRequest(
            kind=kind, file_name=file.name, dry_run=dry_run, on_error="skip" if skip_invalid else "abort", mapping=columns,
        )
        job_id = await start_import(request, file.read_bytes(), actor=actor)
        await run_import(job_id)
        if errors_out is not None:
            with errors_out.open("wb") as out:
                async for chunk in await problems_csv(job_id, actor=actor):
                    out.write(chunk)
        return await get_import(job_id, actor=actor)

    job = run(settings_or_fail(), work)
    c = job.counts
    click.echo(
        f"{job.status}: {c.rows} rows, {c.valid} valid, {c.invalid} invalid, {c.duplicates} duplicates; "
        f"created {c.created}, updated {c.updated}, unchanged {c.unchanged}"
        + (f", {c.customers_created} new customers" if kind == "bookings" else "") + (" (dry run)" if dry_run else "")
    )
    for problem in job.problems[:20]:
        click.echo(f"  row {problem.row} {problem.column}: {problem.message}")
    if job.file_problem is not None:
        fail(job.file_problem.message)
