"""`appliance keys init|status|rotate [--blind-index]|seal`."""

from __future__ import annotations

import stat
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
    from appliance.keys.rotation import BLIND_INDEX_KEY, DATA_KEYS, read_progress

    settings = settings_or_fail()
    path = settings.keyring_path
    try:
        keyring = load_keyring(path)
    except KeyRingError as exc:
        fail(f"{exc} (`appliance keys init` creates one)")
        return
    click.echo(f"key ring {path} (mode {stat.S_IMODE(path.stat().st_mode):04o})")
    click.echo(f"suite: {settings.crypto.suite}")
    for key in keyring.signing_keys:
        click.echo(f"  signing key      {key.id}  created {key.created_at:%Y-%m-%d %H:%M}Z")
    for data_key in keyring.data_keys:
        current = "  (seals now)" if data_key is keyring.data_keys[-1] else ""
        click.echo(f"  data key         {data_key.id}  created {data_key.created_at:%Y-%m-%d %H:%M}Z{current}")
    if keyring.blind_index_key is not None:
        click.echo(f"  blind-index key  {keyring.blind_index_key.id}  created {keyring.blind_index_key.created_at:%Y-%m-%d %H:%M}Z")
    for previous in keyring.previous_blind_index_keys:
        click.echo(f"  blind-index key  {previous.id}  (previous: lookups use it until the indexes are rebuilt)")
    if not keyring.data_keys:
        click.echo("no field-encryption keys yet: they are added on first start (or run `appliance keys rotate`)")
        return
    stale = run(settings, count_stale)
    waiting = sum(stale.values())
    click.echo(
        "every sealed value is under the current key" if not waiting else
        f"rows to re-seal: {', '.join(f'{t} {n}' for t, n in stale.items() if n)} (`appliance keys rotate` or `seal`)"
    )
    for kind, command in ((DATA_KEYS, "appliance keys rotate"), (BLIND_INDEX_KEY, "appliance keys rotate --blind-index")):
        progress = read_progress(path, kind)
        if progress is not None and progress.finished_at is None:
            click.echo(f"rotation to {progress.key_id} unfinished (started {progress.started_at}): run `{command}`")


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
