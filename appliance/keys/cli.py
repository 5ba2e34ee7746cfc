"""`appliance keys init|status|rotate [--blind-index]|seal`."""

from __future__ import annotations

from typing import Any

import click

from appliance.cli_support import fail, run, settings_or_fail
from appliance.core.keyring import KeyRingError, create_keyring, load_keyring


@click.group("keys")
def keys_group() -> None:
    """The key ring: audit signing keys and the keys of field encryption. Back it up: without it the
    personal data in the database cannot be read."""


@keys_group.command("init")
def keys_init() -> None:
    """Create the key ring (0600) with a signing key, a data key and a blind-index key. Refuses to touch
    an existing one. (`appliance up` and `serve` create it themselves when there is none.)"""
    settings = settings_or_fail()
    try:
        keyring = create_keyring(settings.keyring_path)
    except KeyRingError as exc:
        fail(str(exc))
        return
    click.echo(f"created {keyring.path} (mode 0600)")
    click.echo(f"  signing key      {keyring.signing_key().id}")
    click.echo(f"  data key         {keyring.data_key().id} (seals with {settings.crypto.suite})")
    assert keyring.blind_index_key is not None
    click.echo(f"  blind-index key  {keyring.blind_index_key.id}")
    click.echo("Back this file up now, apart from the database backups: without it the personal data cannot be read.")


@keys_group.command("status")
def keys_status() -> None:
    """The key ring's keys, which one seals, the suite, and how many rows still hold values under an older
    key (or plaintext); an unfinished rotation."""
    from appliance.core.crypto.reseal import count_stale
    from appliance.keys.status import keyring_lines, sealing_lines

    settings = settings_or_fail()
    try:
        keyring = load_keyring(settings.keyring_path)
    except KeyRingError as exc:
        fail(f"{exc} (`appliance keys init` creates one)")
        return
    for line in keyring_lines(settings, keyring):
        click.echo(line)
    if not keyring.data_keys:
        return
    for line in sealing_lines(settings, run(settings, count_stale)):
        click.echo(line)


@keys_group.command("rotate")
@click.option("--batch", type=int, default=500, show_default=True, help="Rows per transaction.")
@click.option(
    "--blind-index", "blind_index", is_flag=True,
    help="Rotate the blind-index key instead: rebuild every lookup index under a new one, then retire the old.",
)
def keys_rotate(batch: int, blind_index: bool) -> None:
    """Add a data key and re-seal every sealed value under it (or, with --blind-index, add a blind-index
    key and compute every lookup index again under it), in batches, while the appliance runs. Continues
    an unfinished rotation instead of starting another. Audited."""
    from appliance.auth.actor import cli_actor
    from appliance.keys.rotation import BLIND_INDEX_KEY, DATA_KEYS, TableProgress, read_progress, rotate

    settings = settings_or_fail()
    if batch < 1:
        fail("--batch must be at least 1")
    kind = BLIND_INDEX_KEY if blind_index else DATA_KEYS
    what = "blind-index key" if blind_index else "data key"
    pending = read_progress(settings.keyring_path, kind)
    if pending is not None and pending.finished_at is None:
        click.echo(f"continuing the rotation to {what} {pending.key_id} started {pending.started_at}")

    def report(table: str, state: TableProgress, total: int) -> None:
        done = "re-indexed" if blind_index else "re-sealed"
        click.echo(f"  {table}: {state.scanned}/{total} rows, {state.resealed} {done}")

    async def work() -> Any:
        return await rotate(actor=cli_actor(), batch=batch, report=report, kind=kind)

    result = run(settings, work)
    left = sum(result.remaining.values())
    if blind_index:
        click.echo(f"blind-index key {result.key_id} indexes now; {sum(result.resealed.values())} row(s) re-indexed")
        if not result.finished:
            fail(f"{left} row(s) still indexed under an older key: run `appliance keys rotate --blind-index` again")
        click.echo("every index is under the new key; the previous blind-index key is removed from the key ring")
        return
    click.echo(f"data key {result.key_id} seals now; {sum(result.resealed.values())} row(s) re-sealed")
    if left:
        fail(f"{left} row(s) still under an older key: run `appliance keys rotate` again")
    click.echo("every sealed value is under the new key; the older keys stay in the key ring for older backups")


@keys_group.command("seal")
def keys_seal() -> None:
    """Seal personal data still held in plaintext (rows from before field encryption, e.g. restored by
    hand) and re-seal values under an older key. The migration does this once by itself. Audited."""
    from appliance.auth.actor import cli_actor
    from appliance.keys.rotation import seal_everything

    settings = settings_or_fail()

    async def work() -> Any:
        return await seal_everything(actor=cli_actor())

    done = run(settings, work)
    click.echo(
        f"{done['scanned']} row(s) looked at, {sum(done['resealed'].values())} sealed "
        f"({done['from_plaintext']} from plaintext)"
    )
