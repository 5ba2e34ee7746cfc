"""Counting the SQL statements the drivers are handed (aiosqlite, asyncpg), transaction control included: what a
change costs the database, measured below every layer of ours."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiosqlite
import asyncpg  # type: ignore[import-untyped]

# The driver methods a statement goes through: asyncpg's transactions run BEGIN and COMMIT through `execute`.
_METHODS: dict[type, tuple[str, ...]] = {
    aiosqlite.Connection: ("execute", "executemany", "executescript", "execute_fetchall"),
    aiosqlite.Cursor: ("execute", "executemany", "executescript"),
    asyncpg.connection.Connection: ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"),
}


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The texts of the statements run inside the block, in order (for copies, the table copied to)."""
    seen: list[str] = []
    originals: list[tuple[type, str, Callable[..., Any]]] = []

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(str(query))
            return method(self, query, *args, **kwargs)
        return wrapper

    for cls, names in _METHODS.items():
        for name in names:
            original = cls.__dict__[name]
            originals.append((cls, name, original))
            setattr(cls, name, counting(original))
    try:
        yield seen
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)
