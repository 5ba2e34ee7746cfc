"""Idempotency-Key handling for create requests: a replay gets the first response, a reused key with
another body is refused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import msgspec

from appliance.auth.actor import Actor
from appliance.bookings.tables import IdempotencyRecord
from appliance.core.clock import utc_now
from appliance.core.crypto import open_json, seal_json
from appliance.core.db import insert_at_commit, json_text, json_value, run_sql
from appliance.core.errors import Invalid

MAX_KEY_LENGTH = 255
_COLUMNS = ("id", "scope", "key", "request_hash", "status_code", "response", "created_at")
_SEALED = ("idempotency_record", "response")  # {"sealed": <the response, sealed>}; kept 24 hours


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str  # whose key: the actor, or the client address for the public portal
    key: str
    request_hash: str


def caller_scope(actor: Actor) -> str:
    """Whose keys a key is unique among: the signed-in caller, else the client address."""
    return f"{actor.kind}:{actor.id}" if actor.id else f"ip:{actor.ip or 'unknown'}"


def idempotency_key(scope: str, key: str | None, body: msgspec.Struct) -> IdempotencyKey | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise Invalid({"Idempotency-Key": f"must be 1 to {MAX_KEY_LENGTH} characters"})
    canonical = msgspec.json.encode(msgspec.to_builtins(body), order="sorted")
    return IdempotencyKey(scope, key, hashlib.sha256(canonical).hexdigest())


async def find_replay(idem: IdempotencyKey) -> dict[str, Any] | None:
    rows = await run_sql(
        "SELECT id, request_hash, response FROM idempotency_record WHERE scope = {} AND key = {}", idem.scope, idem.key
    )
    if not rows:
        return None
    row = rows[0]
    if row["request_hash"] != idem.request_hash:
        raise Invalid(
            {"Idempotency-Key": "already used for a different request"}, code="idempotency_key_reused"
        )
    stored = json_value(row["response"])
    response: dict[str, Any] = open_json(*_SEALED, row["id"], stored["sealed"]) if "sealed" in stored else stored
    return response


async def remember_response(idem: IdempotencyKey, status_code: int, response: msgspec.Struct) -> None:
    """Store the first response, in the transaction that produced it (written as it commits: a key used
    concurrently fails the commit as a unique violation). Sealed: it holds the booking's answers and notes."""
    record_id = uuid4()
    sealed = seal_json(*_SEALED, record_id, msgspec.to_builtins(response))
    await insert_at_commit("idempotency_record", _COLUMNS, (
        record_id, idem.scope, idem.key, idem.request_hash, status_code, json_text({"sealed": sealed}), utc_now(),
    ))


# How long a replay is honoured. The stored first response holds the booking's manage token in clear
# (so a client whose connection dropped can still show the customer their link): keep it no longer.
KEEP_FOR = timedelta(hours=24)


async def purge_expired_records(now: datetime) -> int:
    """Forget first responses older than KEEP_FOR; run by the sweeper's housekeeping."""
    deleted = await IdempotencyRecord.delete().where(IdempotencyRecord.created_at < now - KEEP_FOR).returning(
        IdempotencyRecord.id
    )
    return len(deleted)
