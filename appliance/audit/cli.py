"""`appliance audit export|verify|archive`: the audit log as bundles, checked offline with nothing but the
bundle (verify needs no database and no settings)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from appliance.cli_support import fail, run, settings_or_fail


@click.group("audit")
def audit_group() -> None:
    """The audit log: export it, verify a bundle, archive old entries."""


def _instant(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a time such as 2026-11-01T00:00:00+08:00")
        return None
    if moment.tzinfo is None:
        fail(f"{option} needs a UTC offset, e.g. 2026-11-01T00:00:00+08:00")
    return moment


@audit_group.command("export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The zip file to write.")
@click.option("--since", default=None, help="First entry at or after this time (with its UTC offset).")
@click.option("--until", default=None, help="Last entry before this time (with its UTC offset).")
def audit_export(out: Path, since: str | None, until: str | None) -> None:
    """Write the audit log (entries from --since to --until, all that are online by default) as a bundle
    that `appliance audit verify` checks. Signs a fresh checkpoint first. Audited."""
    from appliance.audit.actions import export_audit_log
    from appliance.audit.config import configure_audit
    from appliance.auth.actor import cli_actor

    settings = settings_or_fail()
    begin, end = _instant(since, "--since"), _instant(until, "--until")

    async def work() -> Any:
        configure_audit(settings)
        return await export_audit_log(out, actor=cli_actor(), since=begin, until=end)

    done = run(settings, work)
    bundle = done.bundle
    entries = f"seq {bundle.first_seq}–{bundle.last_seq}" if bundle.entries else "no entries"
    click.echo(
        f"wrote {out}: {_entries(bundle.entries)} ({entries}), checkpoint of {_entries(done.checkpoint.size)}"
    )
    click.echo(f"SHA-256 {bundle.sha256}")
    click.echo("Keep its checkpoint.txt: the next `appliance audit verify --checkpoint` proves the log only grew.")


@audit_group.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A checkpoint kept from before (an earlier bundle's checkpoint.txt): the log must extend it.")
@click.option("--public-key", "public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The log's public key (PEM) to trust instead of the one inside the bundle.")
def audit_verify(bundle: Path, checkpoint_file: Path | None, public_key_file: Path | None) -> None:
    """Check an audit bundle with nothing but the bundle: every file, every entry's place and hash, the
    signed checkpoints, and (with --checkpoint) that nothing kept before was cut off or rewritten. Needs no
    database or settings. Exits 1 naming the first bad entry."""
    from appliance.audit.verify import BundleError, verify_bundle

    try:
        note = checkpoint_file.read_text(encoding="utf-8") if checkpoint_file else None
        key = public_key_file.read_bytes() if public_key_file else None
        report = verify_bundle(bundle, checkpoint_note=note, public_key_pem=key)
    except BundleError as exc:
        fail(f"{bundle} cannot be verified: {exc}")
        return
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"cannot read the checkpoint or key given: {exc}")
        return
    click.echo(f"Bundle  {bundle}")
    for fact in report.facts:
        click.echo(f"        {fact}")
    for passed in report.passed:
        click.echo(f"ok      {passed}")
    for problem in report.problems:
        click.echo(f"FAILED  {problem}")
    if report.ok:
        click.echo("VERIFIED")
        return
    fail(f"the bundle does not verify: {report.problems[0]}")


@audit_group.command("archive")
def audit_archive() -> None:
    """Archive now what housekeeping would: entries older than APPLIANCE_AUDIT_RETENTION_DAYS, into
    verified bundles in the archive directory, then out of the database."""
    from appliance.audit.actions import archive_expired
    from appliance.audit.config import configure_audit
    from appliance.core.clock import utc_now

    settings = settings_or_fail()

    async def work() -> int:
        configure_audit(settings)
        total = 0
        while archived := await archive_expired(utc_now()):
            total += archived
        return total

    archived = run(settings, work)
    where = settings.audit.archive_dir or settings.data.dir / "audit-archive"
    click.echo(f"archived {_entries(archived)} into {where}" if archived else "nothing to archive")


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"
