"""Creating bookings on both engines with the service's rules and the automation's timer rules remembered
between bookings: a change to the catalog or to the rules, however it is written (here by hand, as another
node or the CLI would), is in force for the very next booking; an unchanged catalog costs no read of the
service or of the rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import msgspec
import pytest

from appliance.auth.actor import cli_actor
from appliance.automation.engine import TIMER_PREFIX
from appliance.automation.tables import Rule
from appliance.bookings.actions import SlotUnavailable
from appliance.bookings.tables import Booking
from appliance.catalog.schemas import Branch, Service
from appliance.events.tables import Timer
from appliance.core.db import insert_rows, row_for, run_sql, write_transaction
from appliance.core.errors import Invalid
from appliance.forms.actions import create_form
from appliance.forms.answers import AnswersInvalid
from appliance.forms.schemas import FormCreate
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service
from tests.appliance.reports.statements import counted_statements

pytestmark = pytest.mark.usefixtures("database")

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(days: int, hour: int) -> datetime:
    day = datetime.now(SHANGHAI).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


async def _booked_once(**service: Any) -> tuple[Branch, Service]:
    """A branch with one staff member and a service, booked once (its context now remembered)."""
    branch = await make_branch()
    await make_resource(branch.id)
    made = await make_service(branch.id, **service)
    await make_booking(made.id, at(3, 10))
    return branch, made


async def _price_of(booking_id: object) -> int:
    row = await Booking.select(Booking.price_amount).where(Booking.id == booking_id).first()
    assert row is not None
    return int(row["price_amount"])


async def test_a_price_changed_by_hand_is_charged_by_the_next_booking() -> None:
    _, service = await _booked_once(price={"amount": 19800, "currency": "CNY"})
    [first] = [r["id"] for r in await Booking.select(Booking.id).where(Booking.service == service.id)]

    async with write_transaction():
        await run_sql("UPDATE service SET price_amount = 25800 WHERE id = {}", service.id)
    later = await make_booking(service.id, at(3, 12))

    assert (await _price_of(first), await _price_of(later)) == (19800, 25800)


async def test_a_service_withdrawn_by_hand_takes_no_more_bookings() -> None:
    _, service = await _booked_once()

    async with write_transaction():
        await run_sql("UPDATE service SET active = {} WHERE id = {}", False, service.id)

    with pytest.raises(Invalid) as refused:
        await make_booking(service.id, at(3, 12))
    assert refused.value.fields == {"service_id": "this service is not offered any more"}


async def test_a_service_offered_again_by_hand_takes_bookings_again() -> None:
    """A refusal judged on remembered rules, before any calendar query, must not outlive them."""
    _, service = await _booked_once()
    async with write_transaction():
        await run_sql("UPDATE service SET active = {} WHERE id = {}", False, service.id)
    for hour in (12, 13):  # the first finds the remembered rules stale; the second remembers it withdrawn
        with pytest.raises(Invalid):
            await make_booking(service.id, at(3, hour))

    async with write_transaction():
        await run_sql("UPDATE service SET active = {} WHERE id = {}", True, service.id)
    booked = await make_booking(service.id, at(3, 14))

    row = await Booking.select(Booking.service, Booking.starts_at).where(Booking.id == booked).first()
    assert row is not None and (row["service"], row["starts_at"]) == (service.id, at(3, 14))


async def test_a_branch_moved_to_another_time_zone_by_hand_books_in_it() -> None:
    branch, service = await _booked_once()

    async with write_transaction():
        await run_sql("UPDATE branch SET timezone = 'Europe/London' WHERE id = {}", branch.id)
    # 10:00 in Shanghai is 02:00 in London: outside the resource's 09:00-18:00 there.
    with pytest.raises(SlotUnavailable):
        await make_booking(service.id, at(4, 10))


async def test_a_form_attached_after_a_booking_asks_the_next_one() -> None:
    _, service = await _booked_once()
    question = {"key": "allergy", "type": "text", "required": True, "label": {"zh-CN": "过敏史", "en": "Allergies"}}
    data = msgspec.convert({"target": "service", "service_id": str(service.id), "name": "问诊", "fields": [question]}, FormCreate)
    await create_form(data, actor=cli_actor())

    with pytest.raises(AnswersInvalid) as refused:
        await make_booking(service.id, at(3, 12))
    assert list(refused.value.fields) == ["answers.allergy"]


async def test_an_unchanged_catalog_costs_no_read_of_the_service_or_the_rules() -> None:
    _, service = await _booked_once()

    with counted_statements() as seen:
        await make_booking(service.id, at(3, 12))

    assert not [q for q in seen if "FROM service s" in q or "rule" in q]


async def test_a_timer_rule_written_by_hand_sets_its_timer_on_the_next_booking() -> None:
    _, service = await _booked_once()  # the rules (none) remembered at the catalog's revision
    rule_id = uuid4()
    trigger = {"timer": {"anchor": "starts_at", "offset_minutes": -60}}
    async with write_transaction():  # a bare insert: no backfill of timers for the bookings made already
        await insert_rows(row_for(Rule, {
            "id": rule_id, "name": "提前一小时", "trigger": trigger, "created_at": at(0, 9), "updated_at": at(0, 9),
            "actions": [{"type": "emit_event", "event": "custom.reminder"}],
        }))
    later = await make_booking(service.id, at(3, 12))

    timers = await Timer.select(Timer.subject_id, Timer.due_at).where(Timer.name == f"{TIMER_PREFIX}{rule_id}")
    assert [(t["subject_id"], t["due_at"]) for t in timers] == [(str(later), at(3, 11))]
