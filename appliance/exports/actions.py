"""Starting exports: who may, with what passphrase, audited before the first byte leaves."""

from __future__ import annotations

import os
from pathlib import Path

from appliance.audit.trail import add_audit_entry
from appliance.auth.actor import Actor
from appliance.core.db import write_transaction
from appliance.core.errors import Invalid
from appliance.exports.archive import Export, Manifest
from appliance.exports.sealed import check_passphrase


async def start_export(*, actor: Actor, passphrase: str | None) -> Export:
    """A full export, audited now (its own entry is in the archive it starts)."""
    if passphrase is not None and (problem := check_passphrase(passphrase)):
        raise Invalid({"passphrase": problem})
    async with write_transaction():
        await add_audit_entry("data.exported", actor=actor, details={"scope": "everything", "sealed": passphrase is not None})
    return Export(passphrase=passphrase)


async def export_to_file(path: Path, *, actor: Actor, passphrase: str | None) -> Manifest:
    """Write a full export to a new file only its owner can read; never over an existing one."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Invalid({"out": f"{path} exists; choose a new file"}) from None
    export = await start_export(actor=actor, passphrase=passphrase)
    try:
        with os.fdopen(descriptor, "wb") as out:
            async for chunk in export.chunks():
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)  # no half archive left behind to be taken for a whole one
        raise
    return export.manifest
