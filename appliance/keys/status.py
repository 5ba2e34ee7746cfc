"""What `appliance keys status` says about the key ring, as lines: key ids, dates, which key seals, the
suite, rows still to re-seal and an unfinished rotation. Never key material. Shared by the CLI and the
owner's settings page."""

from __future__ import annotations

import stat
from collections.abc import Mapping

from appliance.core.keyring import KeyRing
from appliance.keys.rotation import BLIND_INDEX_KEY, DATA_KEYS, read_progress
from appliance.settings import Settings


def keyring_lines(settings: Settings, keyring: KeyRing) -> list[str]:
    """The ring's file, suite and keys (the part that needs no database)."""
    path = settings.keyring_path
    lines = [f"key ring {path} (mode {stat.S_IMODE(path.stat().st_mode):04o})", f"suite: {settings.crypto.suite}"]
    lines += [f"  signing key      {key.id}  created {key.created_at:%Y-%m-%d %H:%M}Z" for key in keyring.signing_keys]
    for data_key in keyring.data_keys:
        current = "  (seals now)" if data_key is keyring.data_keys[-1] else ""
        lines.append(f"  data key         {data_key.id}  created {data_key.created_at:%Y-%m-%d %H:%M}Z{current}")
    if (blind := keyring.blind_index_key) is not None:
        lines.append(f"  blind-index key  {blind.id}  created {blind.created_at:%Y-%m-%d %H:%M}Z")
    lines += [f"  blind-index key  {previous.id}  (previous: lookups use it until the indexes are rebuilt)"
              for previous in keyring.previous_blind_index_keys]
    if not keyring.data_keys:
        lines.append("no field-encryption keys yet: they are added on first start (or run `appliance keys rotate`)")
    return lines


def sealing_lines(settings: Settings, stale: Mapping[str, int]) -> list[str]:
    """Rows still to re-seal (from `count_stale`) and any unfinished rotation."""
    waiting = sum(stale.values())
    lines = [
        "every sealed value is under the current key" if not waiting else
        f"rows to re-seal: {', '.join(f'{t} {n}' for t, n in stale.items() if n)} (`appliance keys rotate` or `seal`)"
    ]
    for kind, command in ((DATA_KEYS, "appliance keys rotate"), (BLIND_INDEX_KEY, "appliance keys rotate --blind-index")):
        progress = read_progress(settings.keyring_path, kind)
        if progress is not None and progress.finished_at is None:
            lines.append(f"rotation to {progress.key_id} unfinished (started {progress.started_at}): run `{command}`")
    return lines
