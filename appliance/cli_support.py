"""What every `appliance` command shares: settings or a readable failure, and running async work against
the configured database with AppErrors reported as one-line failures."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from appliance.core.crypto.cipher import SealError
from appliance.core.errors import AppError
from appliance.core.keyring import KeyRingError
from appliance.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))
        raise  # unreachable


def run(settings: Settings, work: Callable[[], Awaitable[T]], *, pool: bool = True) -> T:
    """Run `work` against the configured database, reporting AppErrors as one-line failures.

    `pool=False` connects per query, for work that must report an unreachable database itself.
    """
    from appliance.core import db
    from appliance.core.log import configure_logging
    from appliance.db import open_database

    configure_logging(settings.log.format, "warning")
    open_database(settings)

    async def wrapped() -> T:
        if pool:
            await db.start_pool()
        try:
            return await work()
        finally:
            if pool:
                await db.close_pool()

    try:
        return asyncio.run(wrapped())
    except AppError as exc:
        fail(exc.detail)
        raise  # unreachable
    except (KeyRingError, SealError) as exc:
        fail(str(exc))
        raise  # unreachable
    except OSError as exc:
        fail(f"cannot reach the database: {exc}")
        raise
