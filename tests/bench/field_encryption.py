"""What field encryption costs: booking creation (a new customer each time, its contact sealed and
indexed, answers and notes sealed), the customer list (a page of 50 opened) and the 360 view, each timed
with the real cipher and with a pass-through stand-in in the same run, on SQLite and PostgreSQL; and the
cipher alone per value (AES-256-GCM, SM4-GCM, a blind index). Prints figures and ratios; asserts nothing
about time.

    .venv/bin/python -m tests.bench.field_encryption [--bookings N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from appliance.auth.actor import cli_actor
from appliance.bookings.actions import NewBooking, create_booking
from appliance.core import db
from appliance.core.log import configure_logging
from appliance.core.crypto import fields
from appliance.core.crypto.cipher import is_sealed
from appliance.core.crypto.fields import FieldCrypto
from appliance.customers.queries import CustomerFilter, get_customer, list_customers
from appliance.customers.schemas import CustomerContact
from appliance.db import open_database
from appliance.db.migrate import apply_migrations
from appliance.testing.builders import make_branch, make_resource, make_service, requirement
from tests.bench.booking_engine import POSTGRES_ADMIN_URL, create_database, drop_database
from tests.conftest import make_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


class PassThrough(FieldCrypto):
    """The same calls without cryptography: values kept readable, indexes are the values themselves."""

    def seal_bytes(self, table: str, column: str, row_id: object, plaintext: bytes) -> str:
        return "P" + base64.b64encode(plaintext).decode()

    def open_bytes(self, table: str, column: str, row_id: object, sealed: str) -> bytes:
        return base64.b64decode(sealed[1:])

    def blind_index(self, table: str, column: str, purpose: str, normalised: str) -> str:
        return normalised[:32]

    def blind_indexes(self, table: str, column: str, purpose: str, normalised: str) -> list[str]:
        return [normalised[:32]]


def _per_call(fn: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - started) / count * 1e6


def cipher_figures(out: TextIO, keyring: Path) -> None:
    value = "欧阳娜娜 +8613912345678 nana@example.com".encode()
    for suite in ("aes-256-gcm", "sm4-gcm"):
        crypto = FieldCrypto(keyring, suite)  # type: ignore[arg-type]
        sealed = crypto.seal_bytes("customer", "name", "row", value)
        assert is_sealed(sealed)
        seal_us = _per_call(lambda: crypto.seal_bytes("customer", "name", "row", value), 5000)
        open_us = _per_call(lambda: crypto.open_bytes("customer", "name", "row", sealed), 5000)
        out.write(f"cipher {suite} seal_us={seal_us:.1f} open_us={open_us:.1f}\n")
    index_us = _per_call(lambda: crypto.blind_index("customer", "phone", "exact", "+8613912345678"), 5000)
    out.write(f"cipher blind_index_us={index_us:.1f}\n")


async def _timed(work: Callable[[], Awaitable[object]], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await work()
    return (time.perf_counter() - started) / count * 1000


async def engine_figures(url: str, data_dir: Path, bookings: int, rounds: int, out: TextIO, engine: str) -> None:
    settings = make_settings(url, data_dir)
    open_database(settings)
    await apply_migrations()
    await db.start_pool()
    real = fields.field_crypto()
    plain = PassThrough(settings.keyring_path, settings.crypto.suite)
    try:
        branch = await make_branch()
        await make_resource(branch.id, capacity=bookings * 2 + 10)
        service = await make_service(branch.id, "精油按摩", 60, [requirement("staff", "massage")])
        day = (datetime.now(SHANGHAI) + timedelta(days=7)).date()
        counter = iter(range(10**6))

        def book() -> Awaitable[object]:
            n = next(counter)
            starts = datetime(day.year, day.month, day.day, 10 + n % 8, tzinfo=SHANGHAI)
            return create_booking(NewBooking(
                service_id=service.id, starts_at=starts, channel="phone", notes="生日那天来，带朋友",
                customer=CustomerContact(name=f"客户{n}", phone=f"1390{n:07d}", email=f"c{n}@example.com"),
            ), actor=cli_actor(), staff=True)

        figures: dict[str, dict[str, list[float]]] = {"booking_create_ms": {}, "list_page_ms": {}, "detail_ms": {}}
        for round_number in range(rounds):
            # Alternate which goes first, so warming up favours neither.
            for label, crypto in (("sealed", real), ("plain", plain)) if round_number % 2 == 0 else (("plain", plain), ("sealed", real)):
                fields._current = crypto
                figures["booking_create_ms"].setdefault(label, []).append(await _timed(book, bookings))
                # Pages and details of the rows this stand-in wrote (either can open only its own).
                page, _ = await list_customers(CustomerFilter(), after=None, limit=50)
                mine = [c.id for c in page]
                figures["list_page_ms"].setdefault(label, []).append(
                    await _timed(lambda: list_customers(CustomerFilter(), after=None, limit=50), 20)
                )
                figures["detail_ms"].setdefault(label, []).append(
                    await _timed(lambda: get_customer(mine[0], actor=cli_actor()), 20)
                )
                await _reset()
        for name, by_label in figures.items():
            sealed_ms, plain_ms = statistics.median(by_label["sealed"]), statistics.median(by_label["plain"])
            out.write(
                f"{engine} {name} sealed={sealed_ms:.2f} plain={plain_ms:.2f} ratio={sealed_ms / plain_ms:.2f}\n"
            )
    finally:
        fields._current = real
        await db.close_pool()


async def _reset() -> None:
    """Remove the round's bookings and customers, so each round lists and opens only its own rows."""
    for table in ("allocation", "booking", "customer_tag", "customer"):
        await db.run_sql(f"DELETE FROM {table}")


def run(bookings: int = 100, rounds: int = 4, out: TextIO = sys.stdout) -> None:
    configure_logging("console", "warning")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        cipher_figures(out, root / "cipher-keyring.json")
        asyncio.run(engine_figures(f"sqlite:///{root / 'bench.db'}", root / "var-sqlite", bookings, rounds, out, "sqlite"))
        name = f"appliance_bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(create_database(name))
        try:
            url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
            asyncio.run(engine_figures(url, root / "var-pg", bookings, rounds, out, "postgresql"))
        finally:
            asyncio.run(drop_database(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    run(args.bookings, args.rounds)


if __name__ == "__main__":
    main()
