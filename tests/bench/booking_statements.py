"""What one booking costs the database: the statements the drivers (aiosqlite, asyncpg) are handed while a
booking is created through the actions on a warm appliance for a customer who exists already. Counts, not
times.

    .venv/bin/python -m tests.bench.booking_statements [--engine sqlite|postgresql|both]

Per engine, on a fresh migrated database (a temporary SQLite file, or a PostgreSQL database
`appliance_bench_<random>` dropped afterwards): `statements`, every statement but transaction control
(BEGIN, COMMIT) and SQLite's `PRAGMA foreign_keys` (Piccolo sends one before each statement); `handed`,
everything the driver was handed; `report_statements`, those that touch a report table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from appliance.core import db as core_db
from appliance.db import open_database
from appliance.db.migrate import apply_migrations
from appliance.settings import load_settings
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service
from tests.appliance.reports.statements import counted_statements
from tests.bench.booking_engine import POSTGRES_ADMIN_URL, create_database, drop_database

ENGINES = ("sqlite", "postgresql")
_CONTROL = ("BEGIN", "COMMIT", "PRAGMA")


async def _count(url: str) -> dict[str, int]:
    open_database(load_settings({"APPLIANCE_DATABASE_URL": url, "APPLIANCE_LOG_LEVEL": "warning"}))
    await core_db.start_pool()
    try:
        await apply_migrations()
        branch = await make_branch()
        await make_resource(branch.id)
        service = await make_service(branch.id)
        tz = ZoneInfo(branch.timezone)
        day = datetime.now(tz).date() + timedelta(days=5)

        def at(hour: int) -> datetime:
            return datetime(day.year, day.month, day.day, hour, tzinfo=tz)

        for hour in (10, 11):  # the customer made, every statement run once
            await make_booking(service.id, at(hour))
        with counted_statements() as seen:
            await make_booking(service.id, at(12))
    finally:
        await core_db.close_pool()
    return {
        "statements": sum(1 for q in seen if not q.lstrip().upper().startswith(_CONTROL)),
        "handed": len(seen),
        "report_statements": sum(1 for q in seen if "report_" in q),
    }


async def measure(engine: str) -> dict[str, int]:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            return await _count(f"sqlite:///{folder}/appliance.db")
    name = f"appliance_bench_{uuid.uuid4().hex[:10]}"
    await create_database(name)
    try:
        return await _count(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    finally:
        await drop_database(name)


def run(engines: tuple[str, ...], *, out: TextIO) -> dict[str, dict[str, int]]:
    found = {}
    for engine in engines:
        found[engine] = figures = asyncio.run(measure(engine))
        for name, value in figures.items():
            print(f"{engine} {name}={value}", file=out, flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=(*ENGINES, "both"), default="both")
    args = parser.parse_args()
    run(ENGINES if args.engine == "both" else (args.engine,), out=sys.stdout)


if __name__ == "__main__":
    main()
