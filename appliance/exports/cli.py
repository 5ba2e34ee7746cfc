"""`appliance export` and `appliance import`: a full export to a file, and its restore into an empty
appliance. A passphrase comes from a file or a prompt, never from the command line (other users of the
host can read command lines)."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli_support import fail, run, settings_or_fail


def _passphrase(path: Path | None, ask: bool, *, confirm: bool) -> str | None:
    if path is not None:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    if ask:
        return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))
    return None


@click.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Seal the archive with the passphrase in this file.")
@click.option("--ask-passphrase", is_flag=True, help="Seal the archive with a passphrase typed in.")
def export_command(out: Path, passphrase_file: Path | None, ask_passphrase: bool) -> None:
    """Write everything the appliance holds to OUT: every table as JSON Lines and CSV in one ZIP archive
    with a manifest (rows and SHA-256 of every file), from one consistent snapshot. OUT must not exist;
    it is created readable by its owner only."""
    from appliance.auth.actor import cli_actor
    from appliance.exports.actions import export_to_file

    passphrase = _passphrase(passphrase_file, ask_passphrase, confirm=True)
    manifest = run(settings_or_fail(), lambda: export_to_file(out, actor=cli_actor(), passphrase=passphrase))
    rows = sum(t.rows for t in manifest.tables.values())
    click.echo(f"exported {rows} rows of {len(manifest.tables)} tables to {out}" + (" (sealed)" if passphrase else ""))


@click.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The passphrase a sealed archive was sealed with, in a file.")
@click.option("--ask-passphrase", is_flag=True, help="Type in the passphrase of a sealed archive.")
def import_command(archive: Path, passphrase_file: Path | None, ask_passphrase: bool) -> None:
    """Restore an export into this appliance, which must be empty (a new database after `appliance
    migrate`) and of the same release. The archive is checked whole before anything is written."""
    from appliance.auth.actor import cli_actor
    from appliance.exports.restore import restore

    passphrase = _passphrase(passphrase_file, ask_passphrase, confirm=False)
    restored = run(settings_or_fail(), lambda: restore(archive, passphrase=passphrase, actor=cli_actor()))
    if not restored:
        fail("nothing restored")
    click.echo(f"restored {sum(restored.values())} rows of {len(restored)} tables from {archive}")
