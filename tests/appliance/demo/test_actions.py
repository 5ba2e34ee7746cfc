"""Seeding the demo on both engines: realistic volumes, no double booking, every rule kept, one audit
entry per run, refusal while data exists, and a reset that recreates the same demo.

Seeding takes seconds, so each engine gets one database of its own (module scope) on which the demo is
seeded, seeded again (refused) and reset; the tests then check what each step left behind.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import msgspec
import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import Actor, cli_actor
from appliance.auth.roles import Role
from appliance.auth.tables import RoleGrant
from appliance.bookings.states import HOLDING, Status
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.logic import ResourceFacts, minutes_of, requirement_problems
from appliance.catalog.schemas import WEEKDAYS, Requirement, Schedule
from appliance.catalog.tables import Branch, Resource, Service, TimeOff
from appliance.core.errors import Conflict, Forbidden
from appliance.customers.logic import normalise_phone
from appliance.customers.actions import log_interaction, set_consent
from appliance.customers.merge import merge_customers
from appliance.customers.queries import balances_of, tags_of
from appliance.customers.schemas import InteractionCreate
from appliance.customers.sealing import lookup_indexes, opened_customer
from appliance.customers.tables import (
    Customer, CustomerConsent, CustomerInteraction, CustomerMerge, CustomerNote, CustomerTag, PointsEntry,
)
from appliance.db import open_database
from appliance.db.migrate import apply_migrations
from appliance.demo.actions import seed_demo
from appliance.demo.logic import PROFILE_FORM_ID, branch_id
from appliance.demo.schemas import DemoSummary
from appliance.forms.actions import create_form
from appliance.forms.logic import check_answers, definition_problems
from appliance.forms.queries import CUSTOMERS, current_form, form_fields
from appliance.forms.schemas import FormCreate
from appliance.forms.tables import Form
from appliance.events.tables import OutboxEvent
from appliance.notifications.tables import Message
from appliance.reports.tables import ReportCustomerDay, ReportCustomerFirst
from appliance.settings import Settings
from appliance.testing.builders import make_branch, make_user
from tests.conftest import (
    ENGINES,
    POSTGRES_ADMIN_URL,
    _create_postgres_database,
    _database_url,
    _drop_postgres_database,
    make_settings,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 9, 16)  # a fixed day: the demo comes out the same on every run
JINGAN = branch_id("jingan")
PAST_STATUSES = {Status.completed, Status.cancelled, Status.no_show, Status.rejected}
FUTURE_STATUSES = {Status.confirmed, Status.pending_approval, Status.cancelled}


async def table_counts() -> dict[str, int]:
    tables = (Branch, Resource, TimeOff, Service, Customer, Booking, Allocation, AuditEntry, OutboxEvent, RoleGrant)
    return {t._meta.tablename: await t.count() for t in tables}


@dataclass(frozen=True)
class Seeded:
    settings: Settings
    first: DemoSummary  # the demo seeded into an empty database
    manager_id: UUID  # then a manager of the Jing'an branch and a branch of the business's own were added
    refused: Conflict  # seeding again without reset
    before_refusal: dict[str, int]
    after_refusal: dict[str, int]
    linked: dict[str, int]  # then two customers were merged, with consent, a logged call and a message
    reset: DemoSummary  # and finally a reset


@pytest.fixture(scope="module", params=ENGINES)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    engine = str(request.param)
    pg_name = None
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    else:
        pg_name = f"appliance_demo_{uuid4().hex[:10]}"
        asyncio.run(_create_postgres_database(pg_name))
        url = _database_url(POSTGRES_ADMIN_URL, pg_name)
    settings = make_settings(url, tmp_path_factory.mktemp("demo-var"))  # its own key ring, not ./var
    open_database(settings)

    async def run() -> Seeded:
        await apply_migrations()
        first = await seed_demo(actor=cli_actor(), today=TODAY)
        manager = await make_user("jingan.manager", Role.manager, branch_id=JINGAN)
        await make_branch("临时店")
        before = await table_counts()
        try:
            await seed_demo(actor=cli_actor(), today=TODAY)
        except Conflict as exc:
            refused = exc
        else:
            raise AssertionError("seeding over existing branches was not refused")
        after = await table_counts()
        linked = await _link_two_customers()
        await _ask_a_booking_question()
        reset = await seed_demo(actor=cli_actor(), today=TODAY, reset=True)
        return Seeded(settings, first, manager.id, refused, before, after, linked, reset)

    try:
        yield asyncio.run(run())
    finally:
        if pg_name:
            asyncio.run(_drop_postgres_database(pg_name))


async def _link_two_customers() -> dict[str, int]:
    """What staff do with the demo before a reset: merge two customers (the record points at both by id),
    record a consent choice, log a call, send a message; the counts of those rows."""
    survivor, duplicate = [r["id"] for r in await Customer.select(Customer.id).order_by(Customer.id).limit(2)]
    await merge_customers(survivor, duplicate, actor=cli_actor())
    await set_consent(survivor, {"marketing": False}, source="staff", actor=cli_actor())
    await log_interaction(survivor, InteractionCreate(kind="call", note="回访"), actor=cli_actor())
    booking = await Booking.select(Booking.id).where(Booking.customer == survivor).first()
    await Message.insert(Message(
        id=uuid4(), customer=survivor, booking=booking["id"] if booking else None, channel="sms", template="booking.confirmed",
        recipient="customer", status="sent", created_at=datetime.now(UTC),
    ))
    return {t._meta.tablename: await t.count() for t in (CustomerMerge, CustomerConsent, CustomerInteraction, Message)}


async def _ask_a_booking_question() -> None:
    """Staff add booking questions to a demo service: a reset deletes the service, so the form with it."""
    service = await Service.select(Service.id).order_by(Service.id).first()
    question = {"key": "allergies", "type": "text", "label": {"zh-CN": "过敏史", "en": "Allergies"}}
    data = msgspec.convert({"target": "service", "service_id": str(service["id"]), "name": "问诊", "fields": [question]}, FormCreate)
    await create_form(data, actor=cli_actor())


async def _pointing_at_no_customer() -> dict[str, int]:
    """Rows of every customer-linked table whose customer is gone."""
    gone = Customer.select(Customer.id)
    return {
        "customer_merge": await CustomerMerge.count().where(
            CustomerMerge.survivor.not_in(gone) | CustomerMerge.duplicate.not_in(gone)
        ),
        "message": await Message.count().where(Message.customer.is_not_null() & Message.customer.not_in(gone)),
        **{
            t._meta.tablename: await t.count().where(t.customer.not_in(gone))
            for t in (
                CustomerConsent, CustomerInteraction, CustomerTag, CustomerNote, PointsEntry, Booking, ReportCustomerDay,
                ReportCustomerFirst,
            )
        },
    }


@pytest.fixture
def demo(seeded: Seeded) -> Seeded:
    """The engine's demo database, reset once; the checks below read it."""
    open_database(seeded.settings)
    return seeded


def local_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), SHANGHAI)


# --- Volumes ---------------------------------------------------------------------------------------

async def test_counts_fall_in_the_requested_ranges(demo: Seeded) -> None:
    branches = await Branch.select().output(load_json=True)
    kinds = Counter(r["kind"] for r in await Resource.select(Resource.kind))
    bookings = await Booking.select(Booking.branch, Booking.starts_at)
    per_day = Counter((b["branch"], local_day(b["starts_at"])) for b in bookings)

    assert len(branches) == 2 and {b["timezone"] for b in branches} == {"Asia/Shanghai"}
    assert 10 <= kinds["staff"] <= 14 and kinds["room"] >= 8 and kinds["equipment"] >= 2
    assert 13 <= await Service.count() <= 17
    assert 450 <= await Customer.count() <= 550
    assert min(d for _, d in per_day) == TODAY - timedelta(days=90)
    assert max(d for _, d in per_day) == TODAY + timedelta(days=30)
    for branch in branches:
        open_days = [
            TODAY + timedelta(days=n) for n in range(-90, 31)
            if branch["opening_hours"].get(WEEKDAYS[(TODAY + timedelta(days=n)).weekday()])
        ]
        counts = [per_day[(branch["id"], day)] for day in open_days]
        booked_days = {d for b, d in per_day if b == branch["id"]}
        assert booked_days == set(open_days), branch["name"]  # every open day, never a closed one
        assert min(counts) >= 12 and max(counts) <= 45, branch["name"]
        assert 20 <= sum(counts) / len(counts) <= 40, branch["name"]
    assert demo.reset.counts["bookings"] == len(bookings)
    assert demo.reset.counts["allocations"] == await Allocation.count()
    assert demo.reset.counts["customers"] == await Customer.count()


# --- No double booking -----------------------------------------------------------------------------

# Every overlapping pair of one unit appears with b starting within a; a plain index range scan.
OVERLAPS = """
SELECT COUNT(*) AS n FROM allocation a JOIN allocation b
  ON b.resource = a.resource AND b.unit = a.unit AND b.id <> a.id AND b.holder {holder} a.holder
 AND b.starts_at >= a.starts_at AND b.starts_at < a.ends_at
 WHERE a.active AND b.active
"""


async def test_no_unit_of_a_resource_is_held_twice_at_once_by_different_holders(demo: Seeded) -> None:
    [clashes] = await Allocation.raw(OVERLAPS.format(holder="<>"))
    [shared] = await Allocation.raw(OVERLAPS.format(holder="="))

    assert clashes["n"] == 0
    assert shared["n"] > 0  # the query does see overlaps: group-class seats share one holder


# --- Allocations follow the rules ------------------------------------------------------------------

def works(schedule: Schedule, start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies within one working interval of the local day, clear of the day's blocks."""
    local_start, local_end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    day = local_start.date()
    if local_end.date() != day and local_end.time() != time():
        return False
    weekday = WEEKDAYS[day.weekday()]
    exceptions = {e.date: e.intervals for e in schedule.exceptions}
    intervals = exceptions.get(day, schedule.weekly.get(weekday, []))
    begin = local_start.hour * 60 + local_start.minute
    finish = 1440 if local_end.date() != day else local_end.hour * 60 + local_end.minute
    inside = any(minutes_of(a) <= begin and finish <= minutes_of(b) for a, b in intervals)
    blocked = any(
        b.weekday == weekday and minutes_of(b.start) < finish and begin < minutes_of(b.end) for b in schedule.blocks
    )
    return inside and not blocked


async def test_every_booking_holds_what_its_service_requires_within_working_hours(demo: Seeded) -> None:
    services = {s["id"]: s for s in await Service.select().output(load_json=True)}
    resources = {r["id"]: r for r in await Resource.select().output(load_json=True)}
    schedules = {rid: msgspec.convert(r["schedule"], Schedule) for rid, r in resources.items()}
    time_off: dict[UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    for t in await TimeOff.select():
        time_off[t["resource"]].append((t["starts_at"], t["ends_at"]))
    held: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for a in await Allocation.select():
        held[a["booking"]].append(a)
    bookings = await Booking.select()

    for booking in bookings:
        service = services[booking["service"]]
        requirements = [msgspec.convert(r, Requirement) for r in service["requirements"]]
        allocations = held[booking["id"]]
        facts = [ResourceFacts(a["resource"], resources[a["resource"]]["kind"],
                               frozenset(resources[a["resource"]]["skills"])) for a in allocations]
        assert len(allocations) == sum(r.count for r in requirements) == len({a["resource"] for a in allocations})
        assert requirement_problems(requirements, facts) == {}, (service["name"], booking["id"])
        assert booking["ends_at"] - booking["starts_at"] == timedelta(minutes=service["duration_minutes"])
        for allocation in allocations:
            resource = resources[allocation["resource"]]
            lock = timedelta(minutes=resource["post_use_lock_minutes"])
            assert resource["branch"] == booking["branch"]
            assert allocation["starts_at"] == booking["starts_at"] - timedelta(minutes=service["buffer_before_minutes"])
            assert allocation["ends_at"] == booking["ends_at"] + timedelta(minutes=service["buffer_after_minutes"]) + lock
            assert 0 <= allocation["unit"] < resource["capacity"]
            # The lock may run past closing; the work itself may not.
            assert works(schedules[allocation["resource"]], allocation["starts_at"], allocation["ends_at"] - lock), (
                resource["name"], booking["starts_at"]
            )
            assert not any(
                a < allocation["ends_at"] - lock and allocation["starts_at"] < b for a, b in time_off[allocation["resource"]]
            ), (resource["name"], booking["starts_at"])
    units = {(a["resource"], a["unit"]) for found in held.values() for a in found}
    assert any(unit > 0 for _, unit in units)  # a room for two was used twice over
    assert any(len(found) == 3 for found in held.values())  # staff + room + equipment


# --- Statuses, payments and channels ---------------------------------------------------------------

async def test_statuses_follow_time_and_only_holding_bookings_hold(demo: Seeded) -> None:
    services = {s["id"]: s for s in await Service.select().output(load_json=True)}
    active = {a["booking"]: a["active"] for a in await Allocation.select(Allocation.booking, Allocation.active)}
    bookings = await Booking.select()
    past = [b for b in bookings if b["starts_at"] < day_start(TODAY)]
    ahead = [b for b in bookings if b["starts_at"] >= day_start(TODAY + timedelta(days=1))]
    past_statuses = Counter(Status(b["status"]) for b in past)
    ahead_statuses = Counter(Status(b["status"]) for b in ahead)

    assert set(past_statuses) <= PAST_STATUSES and set(ahead_statuses) <= FUTURE_STATUSES
    assert past_statuses[Status.completed] > 0.75 * len(past)
    assert past_statuses[Status.cancelled] > 0.03 * len(past) and past_statuses[Status.no_show] > 0.02 * len(past)
    assert ahead_statuses[Status.confirmed] > 0.85 * len(ahead) and ahead_statuses[Status.cancelled] > 0
    assert ahead_statuses[Status.pending_approval] > 0
    for booking in bookings:
        service = services[booking["service"]]
        status = Status(booking["status"])
        assert active[booking["id"]] == (status in HOLDING)
        if status in (Status.pending_approval, Status.rejected):
            assert service["requires_approval"]
        if status is Status.completed:
            assert booking["payment_status"] == "paid"
        if service["channels"]:
            assert booking["channel"] in service["channels"]
        assert booking["price_amount"] == service["price_amount"] and booking["price_currency"] == "CNY"
        assert booking["created_at"] <= booking["starts_at"] and booking["created_at"] <= booking["updated_at"]
        assert re.fullmatch(r"[0-9a-f]{64}", booking["manage_token_hash"])
    channels = Counter(b["channel"] for b in bookings)
    assert {"web", "wechat", "phone", "walk_in", "admin", "api"} <= set(channels)
    assert not any(b["channel"] == "walk_in" for b in ahead)
    assert len({b["manage_token_hash"] for b in bookings}) == len(bookings)


# --- Customers -------------------------------------------------------------------------------------

async def test_customers_have_chinese_names_and_valid_unique_mainland_mobiles(demo: Seeded) -> None:
    customers = [opened_customer(c) for c in await Customer.select()]
    phones = [c["phone"] for c in customers]
    emails = [c["email"] for c in customers if c["email"]]
    first_booked: dict[UUID, datetime] = {}
    for b in await Booking.select(Booking.customer, Booking.created_at):
        first_booked[b["customer"]] = min(b["created_at"], first_booked.get(b["customer"], b["created_at"]))

    assert len(set(phones)) == len(phones) == len(customers)
    assert all(normalise_phone(p) == p and re.fullmatch(r"\+861[3-9]\d{9}", p) for p in phones)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", c["name"]) for c in customers)
    assert 0.25 * len(customers) < len(emails) < 0.55 * len(customers)
    assert all(re.fullmatch(r"[a-z0-9]+@example\.(com|net|org)", e) for e in emails)
    assert {c["source_channel"] for c in customers} == {"web", "wechat", "phone", "walk_in", "admin"}
    assert all(c["created_at"] < first_booked[c["id"]] for c in customers if c["id"] in first_booked)
    visits = Counter(b["customer"] for b in await Booking.select(Booking.customer))
    assert max(visits.values()) >= 5 * (sum(visits.values()) / len(visits)) / 2  # regulars come back often


async def test_customers_carry_tiers_points_tags_notes_and_facts_the_live_code_would_have_kept(demo: Seeded) -> None:
    customers = {c["id"]: opened_customer(c) for c in await Customer.select()}
    bookings = await Booking.select(Booking.customer, Booking.status, Booking.payment_status, Booking.price_amount)
    completed = Counter(b["customer"] for b in bookings if b["status"] == "completed")
    tiers = Counter(c["tier"] for c in customers.values())
    balances = await balances_of(list(customers))
    tagged = await tags_of(list(customers))

    assert set(tiers) == {"normal", "silver", "gold", "vip"} and tiers["vip"] < tiers["gold"] < tiers["silver"]
    assert sum(1 for c in customers.values() if c["tier_override"] == "vip") == 6
    assert all(c["visit_count"] == completed[c["id"]] for c in customers.values())
    assert all([c["phone_last4_bidx"]] == lookup_indexes("last4", c["phone"][-4:]) for c in customers.values())
    assert all(c["tier"] == (c["tier_override"] or c["earned_tier"]) for c in customers.values())
    regulars = [c for c in customers.values() if c["visit_count"] >= 6]
    assert regulars and all("常客" in tagged[c["id"]] for c in regulars)
    assert sum(1 for tags in tagged.values() if tags) > len(customers) / 4
    assert sum(1 for c in customers.values() if c["favourite_service"] and c["usual_weekday"]) == len(completed)
    # Every paid booking earned its points once; some customers spent a little since.
    paid = [b for b in bookings if b["payment_status"] == "paid" and b["price_amount"] >= 100]  # free ones earn nothing
    earned = await PointsEntry.select(PointsEntry.customer, PointsEntry.points).where(PointsEntry.kind == "earn")
    assert len(earned) == len(paid) and sum(e["points"] for e in earned) == sum(b["price_amount"] // 100 for b in paid)
    assert await PointsEntry.count().where(PointsEntry.kind == "redeem") > 10
    assert sum(balances.values()) == sum(e["points"] for e in await PointsEntry.select(PointsEntry.points))
    assert await CustomerNote.count() > 10
    assert any(c["preferences"] and c["custom_fields"] and c["gender"] and c["birthday"] for c in customers.values())


async def test_the_demo_customers_custom_fields_answer_the_profile_form_it_makes(demo: Seeded) -> None:
    form = await current_form(CUSTOMERS)
    assert form is not None
    fields = await form_fields(form)
    profiled = [c for c in map(opened_customer, await Customer.select()) if c["custom_fields"]]

    assert (form.id, [f.key for f in fields], definition_problems(fields)) == (PROFILE_FORM_ID, ["skin_type"], {})
    assert fields[0].label.zh_cn == "皮肤类型"
    assert len(profiled) > 10 and all(check_answers(fields, c["custom_fields"]).errors == {} for c in profiled)
    assert {c["custom_fields"]["skin_type"] for c in profiled} == {"dry", "oily", "combination", "sensitive"}
    assert {(c["custom_fields_form"], c["custom_fields_form_version"]) for c in profiled} == {(form.id, form.version)}


# --- Refusal, reset, audit and events -------------------------------------------------------------

async def test_seeding_again_without_reset_is_refused_with_a_reason_and_changes_nothing(demo: Seeded) -> None:
    assert demo.refused.code == "demo_exists"
    assert "3 branches" in demo.refused.detail and "appliance demo --reset" in demo.refused.detail
    assert demo.after_refusal == demo.before_refusal


async def test_reset_recreates_the_same_demo_and_keeps_roles_in_its_branches(demo: Seeded) -> None:
    deleted = demo.reset.deleted

    assert demo.reset.counts == demo.first.counts
    assert demo.reset.bookings_by_status == demo.first.bookings_by_status
    assert deleted is not None and deleted["branches"] == 3 and deleted["bookings"] == demo.first.counts["bookings"]
    assert deleted["allocations"] == demo.first.counts["allocations"]
    assert sorted(b["name"] for b in await Branch.select(Branch.name)) == ["徐汇店", "静安旗舰店"]
    # The demo's branches are updated in place, so a manager of one keeps the role; the other branch is gone.
    assert await RoleGrant.count().where((RoleGrant.user == demo.manager_id) & (RoleGrant.branch == JINGAN)) == 1
    # The booking questions staff added went with their service; the customers' profile form stays.
    assert (deleted["service_forms"], deleted["service_form_versions"]) == (1, 1)
    assert await Form.count().where(Form.target == "service") == 0
    assert await Form.count().where(Form.target == "customers") == 1


async def test_reset_leaves_no_row_pointing_at_a_customer_it_deleted(demo: Seeded) -> None:
    deleted = demo.reset.deleted

    assert demo.linked == {"customer_merge": 1, "customer_consent": 1, "customer_interaction": 1, "message": 1}
    assert deleted is not None
    assert (deleted["customer_merges"], deleted["customer_consent"], deleted["customer_interactions"]) == (1, 1, 1)
    assert deleted["messages"] == 1
    assert await _pointing_at_no_customer() == dict.fromkeys(
        ["customer_merge", "message", "customer_consent", "customer_interaction", "customer_tag", "customer_note",
         "points_entry", "booking", "report_customer_day", "report_customer_first"], 0,
    )
    assert await CustomerMerge.count() == await Customer.count().where(Customer.merged_into.is_not_null()) == 0


async def test_each_run_is_one_audit_entry_and_one_event_carrying_counts_only(demo: Seeded) -> None:
    # Leaving out what staff did to customers and forms between the runs (`_link_two_customers`, `_ask_a_booking_question`).
    audits = await AuditEntry.select().where(AuditEntry.target_type.not_in(["customer", "form"])).order_by(
        AuditEntry.occurred_at
    ).output(load_json=True)
    events = await OutboxEvent.select().where(OutboxEvent.type.not_like("customer.%") & OutboxEvent.type.not_like("form.%")).order_by(
        OutboxEvent.occurred_at
    ).output(load_json=True)
    demo_audits = [a for a in audits if a["action"].startswith("demo.")]
    demo_events = [e for e in events if e["type"].startswith("demo.")]

    assert [a["action"] for a in audits] == ["demo.seeded", "user.created", "branch.created", "demo.reset"]
    # The seeded bookings and customers announce nothing: later issues turn events into SMS and e-mail.
    assert [e["type"] for e in events] == ["demo.seeded", "user.created", "branch.created", "demo.reset"]
    assert {(a["actor_kind"], a["auth_method"]) for a in demo_audits} == {("system", "cli")}
    assert [e["data"]["counts"] for e in demo_events] == [demo.first.counts, demo.reset.counts]
    assert demo_audits[1]["details"]["deleted"]["bookings"] == demo.first.counts["bookings"]
    assert demo_events[0]["data"]["first_day"] == str(TODAY - timedelta(days=90))
    text = msgspec.json.encode([e["data"] for e in demo_events] + [a["details"] for a in demo_audits]).decode()
    assert "+86" not in text and "@" not in text  # counts, never contact details


async def test_only_the_system_or_the_host_administrator_may_seed(database: str) -> None:
    clerk = Actor(kind="user", id=str(uuid4()), label="front desk", auth_method="password")

    with pytest.raises(Forbidden):
        await seed_demo(actor=clerk, today=TODAY)
    assert await Branch.count() == 0
