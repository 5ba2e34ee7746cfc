"""A Litestar `Store` kept in the database: server-side sessions for embedded mode (no Redis)."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from litestar.stores.base import Store

from appliance.auth.tables import SessionRecord
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction


def _seconds(value: int | timedelta | None) -> int | None:
    if value is None:
        return None
    return int(value.total_seconds()) if isinstance(value, timedelta) else value


class DatabaseStore(Store):
    """Key/value rows in `session_record`; expired rows are invisible and purged as new ones arrive."""

    def __init__(self, namespace: str = "") -> None:
        self.namespace = namespace

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}" if self.namespace else key

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        seconds = _seconds(expires_in)
        now = utc_now()
        expires_at = now + timedelta(seconds=seconds) if seconds is not None else None
        async with write_transaction():
            await SessionRecord.delete().where(
                (SessionRecord.expires_at.is_not_null()) & (SessionRecord.expires_at < now)
            )
            await SessionRecord.delete().where(SessionRecord.key == self._key(key))
            await SessionRecord.insert(
                SessionRecord(id=uuid4(), key=self._key(key), value=data, expires_at=expires_at)
            )

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        row = await SessionRecord.select(SessionRecord.value, SessionRecord.expires_at).where(
            SessionRecord.key == self._key(key)
        ).first()
        if row is None or (row["expires_at"] is not None and row["expires_at"] <= utc_now()):
            return None
        if (seconds := _seconds(renew_for)) is not None:
            await SessionRecord.update({SessionRecord.expires_at: utc_now() + timedelta(seconds=seconds)}).where(
                SessionRecord.key == self._key(key)
            )
        return bytes(row["value"])

    async def delete(self, key: str) -> None:
        await SessionRecord.delete().where(SessionRecord.key == self._key(key))

    async def delete_all(self) -> None:
        prefix = f"{self.namespace}:" if self.namespace else ""
        await SessionRecord.delete().where(SessionRecord.key.like(f"{prefix}%"))

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        row = await SessionRecord.select(SessionRecord.expires_at).where(SessionRecord.key == self._key(key)).first()
        if row is None or row["expires_at"] is None:
            return None
        return max(0, int((row["expires_at"] - utc_now()).total_seconds()))

    def with_namespace(self, namespace: str) -> DatabaseStore:
        return DatabaseStore(f"{self.namespace}:{namespace}" if self.namespace else namespace)
