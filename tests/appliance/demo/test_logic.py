"""The demo catalogue obeys the catalog's own rules, and the plan comes out the same for the same day."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import count
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from appliance.catalog.logic import (
    ResourceFacts,
    minutes_of,
    opening_hours_problems,
    requirement_problems,
    schedule_problems,
    service_problems,
    time_zone_problem,
)
from appliance.catalog.schemas import ServiceCreate
from appliance.demo import data
from appliance.demo.logic import build_plan, split_instant

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORDS = re.compile(r"[A-Za-z]{3,}(?: [A-Za-z]+)+")


def within(intervals: list[tuple[str, str]], start: str, end: str) -> bool:
    return any(minutes_of(a) <= minutes_of(start) and minutes_of(end) <= minutes_of(b) for a, b in intervals)


def test_branches_are_chinese_with_an_english_address_and_valid_hours() -> None:
    assert len(data.BRANCHES) == 2
    assert time_zone_problem(data.TIMEZONE) is None
    for branch in data.BRANCHES:
        assert CHINESE.search(branch.name) and CHINESE.search(branch.address)
        assert ENGLISH_WORDS.search(branch.address), branch.address
        assert opening_hours_problems(branch.opening_hours) == {}


def test_every_schedule_is_valid_and_lies_within_its_branch_opening_hours() -> None:
    opening = {b.key: b.opening_hours for b in data.BRANCHES}
    for resource in data.RESOURCES:
        assert schedule_problems(resource.schedule) == {}, resource.name
        for weekday, intervals in resource.schedule.weekly.items():
            for start, end in intervals:
                assert within(opening[resource.branch].get(weekday, []), start, end), (resource.name, weekday)


def test_staff_have_chinese_names_skills_and_realistic_weeks() -> None:
    staff = [r for r in data.RESOURCES if r.kind == "staff"]

    assert 10 <= len(staff) <= 14
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", s.name) and s.skills for s in staff)
    for member in staff:  # full-timers have a day off; anyone in every day works short shifts
        weekly_minutes = sum(minutes_of(b) - minutes_of(a) for day in member.schedule.weekly.values() for a, b in day)
        assert len(member.schedule.weekly) <= 6 or weekly_minutes <= 30 * 60, member.name
    assert sum(1 for s in staff if len(s.schedule.weekly) <= 4) >= 2  # part-timers
    assert sum(1 for s in staff if s.schedule.blocks) >= 4  # the weekly training / meeting
    assert {"massage", "facial", "laser", "consultation", "yoga", "nail", "hair"} <= {k for s in staff for k in s.skills}
    assert any(r.post_use_lock_minutes == 60 for r in data.RESOURCES if r.kind == "room")
    assert any(r.capacity > 1 for r in data.RESOURCES if r.kind == "room")
    assert sum(1 for r in data.RESOURCES if r.kind == "equipment") >= 2


def test_every_service_passes_the_catalog_rules_against_its_branch_resources() -> None:
    for service in data.SERVICES:
        facts = [
            ResourceFacts(id=UUID(int=i), kind=r.kind, skills=frozenset(r.skills))
            for i, r in enumerate(data.RESOURCES) if r.branch == service.branch
        ]
        body = msgspec.convert(
            {
                "branch_id": str(UUID(int=0)), "name": service.name, "description": service.description,
                "duration_minutes": service.duration_minutes, "requirements": msgspec.to_builtins(service.requirements),
                "buffer_before_minutes": service.buffer_before_minutes, "buffer_after_minutes": service.buffer_after_minutes,
                "price": {"amount": service.price_fen, "currency": data.CURRENCY}, "seats": service.seats,
                "slot_step_minutes": service.slot_step_minutes, "min_notice_minutes": service.min_notice_minutes,
                "max_advance_days": service.max_advance_days, "channels": list(service.channels),
                "customer_picks_staff": service.customer_picks_staff, "requires_approval": service.requires_approval,
            },
            ServiceCreate,
        )

        assert service_problems(body) == {}, service.name
        assert requirement_problems(body.requirements, facts) == {}, service.name
        assert CHINESE.search(service.name) and ENGLISH_WORDS.search(service.description), service.name


def test_the_services_cover_the_features_a_demo_should_show() -> None:
    services = data.SERVICES

    assert 13 <= len(services) <= 17
    assert sum(1 for s in services if len(s.requirements) >= 2) >= 8  # staff + room
    assert sum(1 for s in services if {r.kind for r in s.requirements} == {"staff", "room", "equipment"}) >= 2
    assert any(r.count == 2 for s in services for r in s.requirements)  # two therapists at once
    assert [s.name for s in services if s.seats > 1] == ["流瑜伽小班课"]
    assert any(s.requires_approval for s in services)
    assert any(s.customer_picks_staff for s in services)
    assert any(s.channels for s in services) and any(not s.channels for s in services)
    assert all(s.price_fen % 100 == 0 for s in services)  # whole yuan, in fen


def test_the_split_between_history_and_what_is_ahead_is_now_on_today_else_the_day_edge() -> None:
    now = datetime(2026, 3, 4, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai

    assert split_instant(date(2026, 3, 4), now, SHANGHAI) == now
    assert split_instant(date(2026, 3, 1), now, SHANGHAI) == datetime(2026, 3, 2, tzinfo=SHANGHAI)
    assert split_instant(date(2026, 3, 9), now, SHANGHAI) == datetime(2026, 3, 9, tzinfo=SHANGHAI)


def test_the_same_day_gives_the_same_demo() -> None:
    today, now = date(2026, 9, 16), datetime(2026, 9, 16, 3, 0, tzinfo=UTC)

    def counter_ids() -> Callable[[], UUID]:
        numbers = count(1)
        return lambda: UUID(int=next(numbers))

    first = build_plan(today, now, new_id=counter_ids())
    second = build_plan(today, now, new_id=counter_ids())

    assert first == second
    assert first.first_day == today - timedelta(days=90) and first.last_day == today + timedelta(days=30)
    assert {b.branch_id for b in first.bookings} == {b.id for b in first.branches}
