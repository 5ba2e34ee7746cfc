"""Idempotency-Key handling for create requests: a replay gets the first response, a reused key with
another body is refused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import msgspec

from appliance.bookings.tables import IdempotencyRecord
from appliance.core.clock import utc_now
from appliance.core.errors import Invalid

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str  # whose key: the actor, or the client address for the public portal
    key: str
    request_hash: str


def idempotency_key(scope: str, key: str | None, body: msgspec.Struct) -> IdempotencyKey | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise Invalid({"Idempotency-Key": f"must be 1 to {MAX_KEY_LENGTH} characters"})
    canonical = msgspec.json.encode(msgspec.to_builtins(body), order="sorted")
    return IdempotencyKey(scope, key, hashlib.sha256(canonical).hexdigest())


async def find_replay(idem: IdempotencyKey) -> dict[str, Any] | None:
    row = await IdempotencyRecord.select(IdempotencyRecord.request_hash, IdempotencyRecord.response).where(
        (IdempotencyRecord.scope == idem.scope) & (IdempotencyRecord.key == idem.key)
    ).output(load_json=True).first()
    if row is None:
        return None
    if row["request_hash"] != idem.request_hash:
        raise Invalid(
            {"Idempotency-Key": "already used for a different request"}, code="idempotency_key_reused"
        )
    response: dict[str, Any] = row["response"]
    return response


async def remember_response(idem: IdempotencyKey, status_code: int, response: msgspec.Struct) -> None:
    """Store the first response, in the transaction that produced it."""
    await IdempotencyRecord.insert(
        IdempotencyRecord(
            id=uuid4(), scope=idem.scope, key=idem.key, request_hash=idem.request_hash, status_code=status_code,
            response=msgspec.to_builtins(response), created_at=utc_now(),
        )
    )


# How long a replay is honoured. The stored first response holds the booking's manage token in clear
# (so a client whose connection dropped can still show the customer their link): keep it no longer.
KEEP_FOR = timedelta(hours=24)


async def purge_expired_records(now: datetime) -> int:
    """Forget first responses older than KEEP_FOR; run by the sweeper's housekeeping."""
    deleted = await IdempotencyRecord.delete().where(IdempotencyRecord.created_at < now - KEEP_FOR).returning(
        IdempotencyRecord.id
    )
    return len(deleted)
