"""names_of: many customers' names in one read, for lists of bookings."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from appliance.auth.actor import cli_actor
from appliance.bookings.queries import get_booking
from appliance.customers.queries import names_of
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service


async def test_each_customer_is_named_once_and_unknown_ids_are_left_out(database: str) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id)
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    at = [datetime.combine(tomorrow, time(hour), ZoneInfo("Asia/Shanghai")) for hour in (10, 12)]
    first = await make_booking(service.id, at[0], name="韩梅梅", phone="+8613900000001")
    second = await make_booking(service.id, at[1], name="李雷", phone="+8613900000002")
    ids = [(await get_booking(b, actor=cli_actor())).customer_id for b in (first, second)]

    found = await names_of([ids[0], ids[1], ids[0], uuid4()])

    assert found == {ids[0]: "韩梅梅", ids[1]: "李雷"}
    assert await names_of([]) == {}
