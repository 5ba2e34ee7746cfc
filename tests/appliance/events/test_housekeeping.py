"""The sweeper's housekeeping on both engines: first responses of idempotent creates (they hold a
booking's manage token in clear) are forgotten after a day."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from appliance.bookings.idempotency import KEEP_FOR
from appliance.bookings.tables import IdempotencyRecord
from appliance.core.clock import utc_now
from appliance.events.sweeper import housekeeping

pytestmark = pytest.mark.usefixtures("database")


async def test_idempotency_records_older_than_a_day_are_purged_and_newer_ones_kept() -> None:
    now = utc_now()
    for key, age in (("old", KEEP_FOR + timedelta(minutes=1)), ("recent", KEEP_FOR - timedelta(minutes=1))):
        await IdempotencyRecord.insert(IdempotencyRecord(
            id=uuid4(), scope="user:1", key=key, request_hash="0" * 64, status_code=201,
            response={"manage_token": "secret"}, created_at=now - age,
        ))

    assert await housekeeping(now) == {"idempotency records": 1, "expired points": 0, "audit entries archived": 0}
    assert [r["key"] for r in await IdempotencyRecord.select(IdempotencyRecord.key)] == ["recent"]
    assert await housekeeping(now) == {"idempotency records": 0, "expired points": 0, "audit entries archived": 0}
