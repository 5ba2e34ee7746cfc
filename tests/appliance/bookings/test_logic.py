"""The availability engine: examples of every product rule, daylight-saving days, and property tests
against a brute-force oracle that checks each start minute by minute."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import permutations
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.bookings.logic import (
    END_OF_DAY,
    Held,
    Hours,
    Need,
    Pick,
    ResourceCalendar,
    ServiceRules,
    Slot,
    scheduled_ranges,
    utc_offset_segments,
    Strategy,
    available_days,
    check_start,
    find_slots,
    parse_weekly,
    within_opening_hours,
    holds_for,
    occurrence_holder,
    off_grid,
    parse_schedule,
    schedule_problems,
    step_through,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
MONDAY = date(2026, 6, 1)
NOW = datetime(2026, 5, 1, tzinfo=UTC)
NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC)  # "now" for the clock-change days of 2026
SERVICE_ID = UUID("00000000-0000-4000-8000-00000000feed")


def at(text: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """The UTC instant of a local wall-clock time such as "2026-06-01 10:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


def busy(start: str, end: str, holder: str = "other booking", unit: int = 0) -> Held:
    """An existing allocation between two Shanghai wall-clock times."""
    return Held.between(at(start), at(end), unit, holder)


def hours(*intervals: tuple[str, str], days: Sequence[str] = EVERY_DAY, **extra: Any) -> Hours:
    return parse_schedule({"weekly": {d: [list(i) for i in intervals] for d in days}, **extra})


def resource(
    name: str, kind: str = "staff", skills: Iterable[str] = (), *, number: int | None = None, capacity: int = 1,
    lock: int = 0, schedule: Hours | None = None, time_off: Iterable[tuple[datetime, datetime]] = (),
    held: Iterable[Held] = (),
) -> ResourceCalendar:
    return ResourceCalendar(
        id=UUID(int=number) if number is not None else uuid5(NAMESPACE_URL, name), kind=kind,
        skills=frozenset(skills), capacity=capacity, post_use_lock=timedelta(minutes=lock),
        hours=schedule or hours(("09:00", "18:00")), time_off=tuple(time_off), held=tuple(held), name=name,
    )


def service(
    minutes: int = 60, *, needs: Sequence[tuple[str, Sequence[str], int]] = (("staff", (), 1),), before: int = 0,
    after: int = 0, step: int = 60, seats: int = 1, notice: int = 0, advance_days: int = 90,
) -> ServiceRules:
    return ServiceRules(
        id=SERVICE_ID, duration=timedelta(minutes=minutes), buffer_before=timedelta(minutes=before),
        buffer_after=timedelta(minutes=after), seats=seats,
        needs=tuple(Need(kind=k, skills=frozenset(s), count=c) for k, s, c in needs), step=timedelta(minutes=step),
        min_notice=timedelta(minutes=notice), max_advance=timedelta(days=advance_days),
    )


def on_day(
    rules: ServiceRules, resources: Sequence[ResourceCalendar], day: date, *, tz: ZoneInfo = SHANGHAI,
    now: datetime = NOW, **options: Any,
) -> list[Slot]:
    start = datetime.combine(day, time(), tz)
    end = datetime.combine(day + timedelta(days=1), time(), tz)
    return find_slots(rules, resources, tz=tz, window_start=start, window_end=end, now=now, **options)


def start_at(rules: ServiceRules, resources: Sequence[ResourceCalendar], local: str, **options: Any) -> Slot | None:
    return check_start(rules, resources, at(local), tz=SHANGHAI, now=options.pop("now", NOW), **options)


def clock(slots: Iterable[Slot], tz: ZoneInfo = SHANGHAI) -> list[str]:
    return [s.starts_at.astimezone(tz).strftime("%H:%M") for s in slots]


def local_iso(slots: Iterable[Slot], tz: ZoneInfo) -> list[str]:
    return [s.starts_at.astimezone(tz).isoformat() for s in slots]


def picked(slot: Slot | None, resources: Sequence[ResourceCalendar]) -> list[str]:
    assert slot is not None
    names = {r.id: r.name for r in resources}
    return [names[p.resource_id] for p in slot.picks]


def book(
    rules: ServiceRules, slot: Slot, resources: Sequence[ResourceCalendar], holder: str
) -> list[ResourceCalendar]:
    """The calendars after booking `slot`: its holds become Held rows of `holder`."""
    holds = holds_for(rules, slot, resources)
    added = {r.id: tuple(Held.between(h.starts_at, h.ends_at, h.unit, holder) for h in holds if h.resource_id == r.id)
             for r in resources}
    return [replace(r, held=r.held + added[r.id]) for r in resources]


# --- Schedules -------------------------------------------------------------------------------------


def test_parse_schedule_reads_weekdays_exceptions_blocks_and_24_00() -> None:
    schedule = {
        "weekly": {"mon": [["09:00", "12:00"], ["13:00", "24:00"]], "sun": []},
        "exceptions": [
            {"date": "2026-12-24", "intervals": []},
            {"date": "2026-12-31", "intervals": [["10:00", "14:00"]]},
        ],
        "blocks": [{"weekday": "wed", "start": "12:00", "end": "18:00"}],
    }

    parsed = parse_schedule(schedule)

    assert parsed.weekly == {0: ((time(9), time(12)), (time(13), END_OF_DAY)), 6: ()}
    assert parsed.exceptions == {date(2026, 12, 24): (), date(2026, 12, 31): ((time(10), time(14)),)}
    assert parsed.blocks == ((2, time(12), time(18)),)


@pytest.mark.parametrize("schedule", [
    {"weekly": {"someday": [["09:00", "12:00"]]}},
    {"weekly": {"mon": [["9:00", "12:00"]]}},
    {"weekly": {"mon": [["09:00"]]}},
    {"exceptions": [{"intervals": []}]},
    {"blocks": [{"weekday": "wed", "start": "25:00", "end": "26:00"}]},
])
def test_parse_schedule_refuses_malformed_json(schedule: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_schedule(schedule)


def test_schedule_problems_names_each_broken_rule_by_field_path() -> None:
    schedule = {
        "weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"], ["14:00", "14:00"]], "tue": [["18:00", "09:00"]]},
        "exceptions": [
            {"date": "2026-12-24", "intervals": []},
            {"date": "2026-12-24", "intervals": [["10:00", "12:00"], ["09:00", "10:30"]]},
        ],
        "blocks": [{"weekday": "wed", "start": "18:00", "end": "12:00"}],
    }

    problems = schedule_problems(schedule)

    assert problems == {
        "weekly.mon[1]": "overlaps 09:00–12:00",
        "weekly.mon[2]": "start 14:00 is not before end 14:00",
        "weekly.tue[0]": "start 18:00 is not before end 09:00",
        "exceptions[1].date": "duplicate date 2026-12-24 (also exceptions[0])",
        "exceptions[1].intervals[1]": "overlaps 10:00–12:00",
        "blocks[0]": "start 18:00 is not before end 12:00",
    }


def test_schedule_problems_accepts_touching_intervals_and_24_00() -> None:
    schedule = {
        "weekly": {"mon": [["00:00", "12:00"], ["12:00", "24:00"]]},
        "exceptions": [{"date": "2026-12-24", "intervals": [["20:00", "24:00"]]}],
        "blocks": [{"weekday": "wed", "start": "12:00", "end": "24:00"}],
    }

    assert schedule_problems(schedule) == {}


# --- Slots from schedules --------------------------------------------------------------------------


def test_weekly_schedule_offers_every_step_that_fits_inside_working_hours() -> None:
    staff = resource("王芳", schedule=hours(("09:00", "12:00"), ("13:00", "18:00"), days=WORKDAYS))
    rules = service(60, step=30)

    monday = on_day(rules, [staff], MONDAY)
    saturday = on_day(rules, [staff], date(2026, 6, 6))

    assert clock(monday) == [
        "09:00", "09:30", "10:00", "10:30", "11:00",
        "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30", "17:00",
    ]
    assert monday[0] == Slot(
        starts_at=at("2026-06-01 09:00"), ends_at=at("2026-06-01 10:00"), picks=(Pick(staff.id, 0),), seats_left=1,
        holder=None, explanation="least loaded first: 王芳 0 min",
    )
    assert monday[0].starts_at.tzinfo is UTC
    assert saturday == []


def test_buffers_must_fit_in_working_hours_and_keep_clear_of_other_bookings() -> None:
    morning = resource("王芳", schedule=hours(("09:00", "12:00")))
    booked = resource("李娜", schedule=hours(("09:00", "14:00")), held=[busy("2026-06-01 11:00", "2026-06-01 12:00")])
    rules = service(60, before=15, after=15, step=15)

    assert clock(on_day(rules, [morning], MONDAY)) == ["09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45"]
    assert clock(on_day(rules, [booked], MONDAY)) == ["09:15", "09:30", "09:45", "12:15", "12:30", "12:45"]


def test_min_notice_and_max_advance_bound_the_starts_inclusively() -> None:
    staff = resource("王芳")
    rules = service(60, notice=120, advance_days=1)
    now = at("2026-06-01 10:00")

    slots = find_slots(
        rules, [staff], tz=SHANGHAI, window_start=at("2026-06-01 00:00"), window_end=at("2026-06-03 00:00"), now=now
    )

    assert [s.starts_at.astimezone(SHANGHAI).strftime("%d %H:%M") for s in slots] == [
        "01 12:00", "01 13:00", "01 14:00", "01 15:00", "01 16:00", "01 17:00", "02 09:00", "02 10:00",
    ]


def test_window_holds_starts_from_its_start_up_to_but_not_including_its_end() -> None:
    staff = resource("王芳")

    slots = find_slots(
        service(60), [staff], tz=SHANGHAI, window_start=at("2026-06-01 10:00"), window_end=at("2026-06-01 13:00"),
        now=NOW,
    )

    assert clock(slots) == ["10:00", "11:00", "12:00"]


def test_time_off_removes_the_hours_it_covers() -> None:
    staff = resource("王芳", time_off=[(at("2026-06-01 12:00"), at("2026-06-01 14:00"))])

    assert clock(on_day(service(60), [staff], MONDAY)) == [
        "09:00", "10:00", "11:00", "14:00", "15:00", "16:00", "17:00",
    ]
    assert len(on_day(service(60), [staff], date(2026, 6, 2))) == 9


def test_exceptions_close_a_date_or_replace_its_hours() -> None:
    exceptions = [
        {"date": "2026-06-02", "intervals": []},
        {"date": "2026-06-03", "intervals": [["13:00", "15:00"]]},
    ]
    staff = resource("王芳", schedule=hours(("09:00", "18:00"), exceptions=exceptions))

    assert on_day(service(60), [staff], date(2026, 6, 2)) == []
    assert clock(on_day(service(60), [staff], date(2026, 6, 3))) == ["13:00", "14:00"]
    assert len(on_day(service(60), [staff], date(2026, 6, 4))) == 9


def test_recurring_block_is_never_bookable() -> None:
    blocks = [{"weekday": "wed", "start": "12:00", "end": "18:00"}]
    staff = resource("王芳", schedule=hours(("09:00", "18:00"), blocks=blocks))

    assert clock(on_day(service(60), [staff], date(2026, 6, 3))) == ["09:00", "10:00", "11:00"]
    assert len(on_day(service(60), [staff], date(2026, 6, 4))) == 9


def test_working_intervals_touching_at_midnight_make_one_shift() -> None:
    night = resource("夜班", schedule=hours(("20:00", "24:00"), ("00:00", "02:00")))

    slots = on_day(service(180), [night], MONDAY)

    assert clock(slots) == ["20:00", "21:00", "22:00", "23:00"]
    assert slots[-1].ends_at == at("2026-06-02 02:00")


# --- Resources, locks, capacity, matching ------------------------------------------------------------


def test_post_use_lock_holds_the_room_for_two_hours_but_not_the_staff() -> None:
    staff = resource("王芳", skills=["massage"])
    room = resource("B室", "room", lock=120)
    massage = service(60, needs=[("staff", ["massage"], 1), ("room", [], 1)])
    slot = start_at(massage, [staff, room], "2026-06-01 10:00")
    assert slot is not None

    holds = {h.resource_id: (h.starts_at, h.ends_at) for h in holds_for(massage, slot, [staff, room])}
    after = book(massage, slot, [staff, room], "booking-1")

    assert holds == {
        staff.id: (at("2026-06-01 10:00"), at("2026-06-01 11:00")),
        room.id: (at("2026-06-01 10:00"), at("2026-06-01 13:00")),
    }
    # The room's lock also trails a new booking: 09:00 would hold the room until 12:00.
    assert clock(on_day(massage, after, MONDAY)) == ["13:00", "14:00", "15:00", "16:00", "17:00"]
    assert clock(on_day(service(60, needs=[("staff", [], 1)]), after, MONDAY)) == [
        "09:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00", "17:00",
    ]


def test_room_for_two_takes_two_concurrent_bookings_then_none() -> None:
    hall = [resource("大厅", "room", capacity=2)]
    rules = service(60, needs=[("room", [], 1)])

    first = start_at(rules, hall, "2026-06-01 10:00")
    assert first is not None
    hall = book(rules, first, hall, "b1")
    second = start_at(rules, hall, "2026-06-01 10:00")
    assert second is not None
    hall = book(rules, second, hall, "b2")
    third = start_at(rules, hall, "2026-06-01 10:00")
    eleven = start_at(rules, hall, "2026-06-01 11:00")

    assert [p.unit for p in first.picks] == [0]
    assert [p.unit for p in second.picks] == [1]
    assert third is None
    assert eleven is not None and [p.unit for p in eleven.picks] == [0]
    assert "10:00" not in clock(on_day(rules, hall, MONDAY))


def test_a_service_needing_staff_room_and_equipment_holds_one_of_each_in_needs_order() -> None:
    resources = [
        resource("李娜", skills=["facial"]),
        resource("王芳", skills=["massage"]),
        resource("普通间", "room"),
        resource("VIP室", "room", ["vip"]),
        resource("热石", "equipment", ["hot-stones"], time_off=[(at("2026-06-01 14:00"), at("2026-06-01 16:00"))]),
    ]
    rules = service(60, needs=[("staff", ["massage"], 1), ("room", ["vip"], 1), ("equipment", ["hot-stones"], 1)])

    slots = on_day(rules, resources, MONDAY)

    assert clock(slots) == ["09:00", "10:00", "11:00", "12:00", "13:00", "16:00", "17:00"]
    assert picked(slots[0], resources) == ["王芳", "VIP室", "热石"]
    assert [len(s.picks) for s in slots] == [3] * 7


def test_matching_finds_the_assignment_a_greedy_pick_would_miss() -> None:
    both = resource("A", skills=["massage", "facial"], number=1)
    massage_only = resource("B", skills=["massage"], number=2)
    staff = [both, massage_only]

    massage_first = service(60, needs=[("staff", ["massage"], 1), ("staff", ["facial"], 1)])
    facial_first = service(60, needs=[("staff", ["facial"], 1), ("staff", ["massage"], 1)])
    massage_only_service = service(60, needs=[("staff", ["massage"], 1)])
    too_many = service(60, needs=[("staff", ["massage"], 2), ("staff", ["facial"], 1)])

    # A comes first in fixed order, so a greedy massage pick would take A and leave the facial unmet.
    assert picked(start_at(massage_first, staff, "2026-06-01 10:00", strategy="fixed_order"), staff) == ["B", "A"]
    assert picked(start_at(facial_first, staff, "2026-06-01 10:00", strategy="fixed_order"), staff) == ["A", "B"]
    assert picked(start_at(massage_only_service, staff, "2026-06-01 10:00", strategy="fixed_order"), staff) == ["A"]
    assert on_day(too_many, staff, MONDAY) == []


def test_one_resource_never_fills_two_places() -> None:
    hall = [resource("大厅", "room", capacity=4)]

    assert on_day(service(60, needs=[("room", [], 2)]), hall, MONDAY) == []


def test_required_resource_is_always_among_the_picks() -> None:
    first = resource("A", skills=["massage"], number=1)
    second = resource("B", skills=["massage"], number=2, held=[busy("2026-06-01 10:00", "2026-06-01 11:00")])
    room = resource("房间", "room", number=3)
    staff = [first, second, room]
    rules = service(60, needs=[("staff", ["massage"], 1)])

    chosen = on_day(rules, staff, MONDAY, required=frozenset({second.id}), strategy="fixed_order")

    assert "10:00" not in clock(chosen)
    assert {tuple(picked(s, staff)) for s in chosen} == {("B",)}
    assert chosen[0].explanation == "fixed order: B 60 min (requested)"
    assert on_day(rules, staff, MONDAY, required=frozenset({room.id})) == []
    assert on_day(rules, staff, MONDAY, required=frozenset({uuid5(NAMESPACE_URL, "nobody")})) == []


def test_least_loaded_prefers_the_staff_less_busy_that_day_and_is_stable() -> None:
    a = resource("A", number=1, held=[busy("2026-06-01 14:00", "2026-06-01 16:00", "a1")])
    b = resource("B", number=2, held=[
        busy("2026-06-01 16:00", "2026-06-01 17:00", "b1"),
        busy("2026-06-02 09:00", "2026-06-02 14:00", "b2"),
    ])
    rules = service(60)

    monday = {clock([s])[0]: s for s in on_day(rules, [a, b], MONDAY)}
    tuesday = on_day(rules, [a, b], date(2026, 6, 2))

    assert picked(monday["09:00"], [a, b]) == ["B"]
    assert monday["09:00"].explanation == "least loaded first: B 60 min"
    assert picked(monday["14:00"], [a, b]) == ["B"]
    assert picked(monday["16:00"], [a, b]) == ["A"]
    assert monday["16:00"].explanation == "least loaded first: A 120 min"
    assert picked(tuesday[0], [a, b]) == ["A"]  # Monday's hours do not count on Tuesday
    assert on_day(rules, [a, b], MONDAY) == on_day(rules, [b, a], MONDAY) == list(monday.values())
    fixed = on_day(rules, [a, b], MONDAY, strategy="fixed_order")
    assert picked(fixed[0], [a, b]) == ["A"]
    assert fixed[0].explanation == "fixed order: A 120 min"


def test_group_class_bookings_join_one_occurrence_until_it_is_full() -> None:
    teachers = [resource("T1", skills=["yoga"], number=1), resource("T2", skills=["yoga"], number=2)]
    studio = resource("瑜伽室", "room", number=3)
    calendars = [*teachers, studio]
    yoga = service(60, needs=[("staff", ["yoga"], 1), ("room", [], 1)], seats=3)
    ten = at("2026-06-01 10:00")
    holder = occurrence_holder(yoga.id, ten)

    opening = check_start(yoga, calendars, ten, tz=SHANGHAI, now=NOW)
    assert opening is not None and opening.holder is None and opening.seats_left == 3
    calendars = book(yoga, opening, calendars, holder)
    joining = check_start(yoga, calendars, ten, tz=SHANGHAI, now=NOW, seats_taken={holder: 1})
    assert joining is not None
    calendars = book(yoga, joining, calendars, holder)

    assert joining.holder == holder and joining.picks == opening.picks and joining.seats_left == 2
    assert joining.explanation.startswith("joins the booked occurrence (1 of 3 seats taken): T1")
    assert holds_for(yoga, joining, calendars) == holds_for(yoga, opening, calendars)
    two_taken = check_start(yoga, calendars, ten, tz=SHANGHAI, now=NOW, seats_taken={holder: 2})
    assert two_taken is not None and two_taken.seats_left == 1
    assert check_start(yoga, calendars, ten, tz=SHANGHAI, now=NOW, seats_taken={holder: 2}, seats_wanted=2) is None
    # Full: no second occurrence at the same start, though T2 is free (it would share the holder).
    assert check_start(yoga, calendars, ten, tz=SHANGHAI, now=NOW, seats_taken={holder: 3}) is None
    assert check_start(yoga, calendars, ten, tz=SHANGHAI, now=NOW, seats_taken={holder: 1},
                       required=frozenset({teachers[1].id})) is None
    eleven = check_start(yoga, calendars, at("2026-06-01 11:00"), tz=SHANGHAI, now=NOW, seats_taken={holder: 3})
    assert eleven is not None and eleven.holder is None and eleven.seats_left == 3


def test_occurrence_holder_is_the_service_id_and_utc_start() -> None:
    assert occurrence_holder(SERVICE_ID, datetime(2026, 6, 1, 10, tzinfo=SHANGHAI)) == (
        "00000000-0000-4000-8000-00000000feed@2026-06-01T02:00:00+00:00"
    )


# --- Grid, single starts, days ------------------------------------------------------------------------


def test_off_grid_follows_local_wall_time_from_midnight() -> None:
    quarter = service(60, step=15)
    odd = service(45, step=45)
    all_day = [resource("王芳", schedule=hours(("00:00", "24:00")))]

    spring_forward = on_day(odd, all_day, date(2026, 3, 8), tz=NEW_YORK, now=NEW_YEAR)

    assert not off_grid(quarter, at("2026-06-01 10:15"), tz=SHANGHAI)
    assert off_grid(quarter, at("2026-06-01 10:20"), tz=SHANGHAI)
    # Two real hours after midnight but 03:00 on the wall: 4 × 45 minutes of wall time.
    assert not off_grid(odd, at("2026-03-08 03:00", NEW_YORK), tz=NEW_YORK)
    assert off_grid(odd, at("2026-03-08 03:15", NEW_YORK), tz=NEW_YORK)
    assert clock(spring_forward, NEW_YORK)[:5] == ["00:00", "00:45", "01:30", "03:00", "03:45"]
    assert not any(off_grid(odd, s.starts_at, tz=NEW_YORK) for s in spring_forward)
    assert start_at(quarter, all_day, "2026-06-01 10:20") is None


def test_a_start_off_the_grid_gets_the_longest_step_through_it_that_divides_the_services() -> None:
    hourly = service(60, step=60)
    all_day = [resource("王芳", schedule=hours(("00:00", "24:00")))]

    assert step_through(hourly, at("2026-06-01 10:00"), tz=SHANGHAI) == timedelta(minutes=60)
    assert step_through(hourly, at("2026-06-01 10:30"), tz=SHANGHAI) == timedelta(minutes=30)
    assert step_through(hourly, at("2026-06-01 10:20"), tz=SHANGHAI) == timedelta(minutes=20)
    assert step_through(service(60, step=45), at("2026-06-01 10:30"), tz=SHANGHAI) == timedelta(minutes=45)
    # Local wall time, as the grid: 03:10 on New York's spring-forward day is 2 h 10 min after midnight.
    assert step_through(hourly, at("2026-03-08 03:10", NEW_YORK), tz=NEW_YORK) == timedelta(minutes=10)
    for start in ("2026-06-01 10:30", "2026-06-01 10:20", "2026-06-01 10:05"):
        rules = replace(hourly, step=step_through(hourly, at(start), tz=SHANGHAI))
        assert start_at(rules, all_day, start) is not None


def test_check_start_is_the_slot_find_slots_offers_at_that_start() -> None:
    staff = [resource("A", number=1), resource("B", number=2, held=[busy("2026-06-01 09:00", "2026-06-01 12:00")])]
    rules = service(60, notice=60)

    offered = {s.starts_at: s for s in on_day(rules, staff, MONDAY)}

    assert start_at(rules, staff, "2026-06-01 10:00") == offered[at("2026-06-01 10:00")]
    assert start_at(rules, staff, "2026-06-01 18:00") is None
    assert start_at(rules, staff, "2026-06-01 10:00", now=at("2026-06-01 09:30")) is None


def test_available_days_lists_the_local_dates_with_a_slot() -> None:
    staff = resource("王芳", schedule=hours(("09:00", "18:00"), days=WORKDAYS,
                                         exceptions=[{"date": "2026-06-03", "intervals": []}]))
    rules = service(60)

    week = available_days(rules, [staff], tz=SHANGHAI, first_day=MONDAY, last_day=date(2026, 6, 7), now=NOW)
    from_tuesday_noon = available_days(
        rules, [staff], tz=SHANGHAI, first_day=MONDAY, last_day=date(2026, 6, 7), now=at("2026-06-02 12:00")
    )

    assert week == [date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 4), date(2026, 6, 5)]
    assert from_tuesday_noon == [date(2026, 6, 2), date(2026, 6, 4), date(2026, 6, 5)]
    assert available_days(rules, [staff], tz=SHANGHAI, first_day=MONDAY, last_day=date(2026, 6, 7), now=NOW,
                          required=frozenset({uuid5(NAMESPACE_URL, "nobody")})) == []


# --- Daylight saving ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "offset"), [(date(2026, 3, 8), "-04:00"), (date(2026, 11, 1), "-05:00")])
def test_a_nine_to_five_day_has_eight_hourly_slots_on_clock_change_days(day: date, offset: str) -> None:
    staff = resource("Ann", schedule=hours(("09:00", "17:00")))

    slots = on_day(service(60, advance_days=365), [staff], day, tz=NEW_YORK, now=NEW_YEAR)

    assert local_iso(slots, NEW_YORK) == [f"{day.isoformat()}T{h:02d}:00:00{offset}" for h in range(9, 17)]
    assert slots[0].starts_at == datetime.fromisoformat(f"{day.isoformat()}T09:00:00{offset}")


def test_a_one_to_four_interval_is_two_real_hours_in_spring_and_four_in_autumn() -> None:
    staff = resource("Ann", schedule=hours(("01:00", "04:00")))

    spring = on_day(service(60, advance_days=365), [staff], date(2026, 3, 8), tz=NEW_YORK, now=NEW_YEAR)
    autumn = on_day(service(60, advance_days=365), [staff], date(2026, 11, 1), tz=NEW_YORK, now=NEW_YEAR)

    assert local_iso(spring, NEW_YORK) == ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"]
    assert local_iso(autumn, NEW_YORK) == [
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00",
    ]


# --- Properties against a brute-force oracle -----------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One resource as the oracle reads it: plain minutes, no engine types."""

    id: UUID
    kind: str
    skills: frozenset[str]
    capacity: int
    lock: int  # minutes
    weekly: dict[int, list[tuple[int, int]]]  # weekday -> [(start minute, end minute)], end 1440 = 24:00
    exceptions: dict[date, list[tuple[int, int]]]
    blocks: list[tuple[int, int, int]]
    time_off: list[tuple[datetime, datetime]]
    held: list[Held]


@dataclass(frozen=True)
class Case:
    tz: ZoneInfo
    window_start: datetime
    window_end: datetime
    now: datetime
    rules: ServiceRules
    specs: list[Spec]
    required: frozenset[UUID]
    strategy: Strategy

    def calendars(self) -> list[ResourceCalendar]:
        return [
            ResourceCalendar(
                id=s.id, kind=s.kind, skills=s.skills, capacity=s.capacity, post_use_lock=timedelta(minutes=s.lock),
                hours=parse_schedule({
                    "weekly": {EVERY_DAY[d]: [[wall(a), wall(b)] for a, b in iv] for d, iv in s.weekly.items()},
                    "exceptions": [{"date": d.isoformat(), "intervals": [[wall(a), wall(b)] for a, b in iv]}
                                   for d, iv in s.exceptions.items()],
                    "blocks": [{"weekday": EVERY_DAY[d], "start": wall(a), "end": wall(b)} for d, a, b in s.blocks],
                }),
                time_off=tuple(s.time_off), held=tuple(s.held), name=f"r{i}",
            )
            for i, s in enumerate(self.specs)
        ]

    def slots(self, calendars: Sequence[ResourceCalendar] | None = None) -> list[Slot]:
        return find_slots(
            self.rules, self.calendars() if calendars is None else calendars, tz=self.tz,
            window_start=self.window_start, window_end=self.window_end, now=self.now, required=self.required,
            strategy=self.strategy,
        )


def wall(minute: int) -> str:
    return "24:00" if minute == 1440 else f"{minute // 60:02d}:{minute % 60:02d}"


def day_intervals(draw: st.DrawFn) -> list[tuple[int, int]]:
    """None, one or two disjoint (possibly touching) intervals on a 30-minute grid; 1440 is 24:00."""
    if draw(st.integers(0, 5)) == 0:
        return []
    start = draw(st.integers(0, 40))
    end = draw(st.integers(start + 1, min(start + 30, 48)))
    intervals = [(start * 30, end * 30)]
    if end < 48 and draw(st.booleans()):
        second = draw(st.integers(end, 47))
        intervals.append((second * 30, draw(st.integers(second + 1, 48)) * 30))
    return intervals


QUARTER = timedelta(minutes=15)
DAY = timedelta(days=1)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    tz = draw(st.sampled_from([SHANGHAI, NEW_YORK]))
    # Windows across both clock changes of New York and an ordinary weekend.
    first = draw(st.sampled_from([
        date(2026, 3, 7), date(2026, 3, 8), date(2026, 10, 31), date(2026, 11, 1), date(2026, 6, 13),
    ]))
    window_start = datetime.combine(first, time(), tz).astimezone(UTC)
    window_end = window_start + timedelta(days=2)
    count = draw(st.integers(2, 4))
    ids = draw(st.lists(st.uuids(), min_size=count, max_size=count, unique=True))
    specs: list[Spec] = []
    for index, rid in enumerate(ids):
        capacity = draw(st.integers(1, 2))
        held: list[Held] = []
        for n in range(draw(st.integers(0, 4))):
            start = window_start + QUARTER * draw(st.integers(-8, 200))
            end = start + QUARTER * draw(st.integers(1, 12))
            unit = draw(st.integers(0, capacity - 1))
            # Existing data is consistent: one unit's allocations do not overlap.
            if all(h.unit != unit or h.ends_at <= start or end <= h.starts_at for h in held):
                held.append(Held.between(start, end, unit, f"h{index}-{n}"))
        time_off = []
        if draw(st.booleans()):
            off_start = window_start + QUARTER * draw(st.integers(0, 190))
            time_off.append((off_start, off_start + QUARTER * draw(st.integers(1, 16))))
        specs.append(Spec(
            id=rid, kind=draw(st.sampled_from(["staff", "room"])),
            skills=frozenset(draw(st.sets(st.sampled_from(["a", "b"]), max_size=2))), capacity=capacity,
            lock=15 * draw(st.integers(0, 4)),
            weekly={d: day_intervals(draw) for d in range(7)},
            exceptions={d: day_intervals(draw) for d in draw(st.sets(st.sampled_from([first, first + DAY])))},
            blocks=[(draw(st.integers(0, 6)), a, b) for a, b in day_intervals(draw)[:1]] if draw(st.booleans()) else [],
            time_off=time_off, held=held,
        ))
    # Needs of the kinds at hand, often two with different skills: where a greedy pick goes wrong.
    needs = tuple(
        Need(kind=draw(st.sampled_from(sorted({s.kind for s in specs}))),
             skills=frozenset(draw(st.sets(st.sampled_from(["a", "b"]), max_size=1))),
             count=2 if draw(st.integers(0, 3)) == 3 else 1)
        for _ in range(draw(st.integers(1, 2)))
    )
    rules = ServiceRules(
        id=SERVICE_ID, duration=QUARTER * draw(st.integers(1, 6)), buffer_before=QUARTER * draw(st.integers(0, 2)),
        buffer_after=QUARTER * draw(st.integers(0, 2)), seats=1, needs=needs,
        step=timedelta(minutes=draw(st.sampled_from([15, 30, 60]))), min_notice=QUARTER * draw(st.integers(0, 16)),
        max_advance=timedelta(hours=draw(st.integers(12, 72))),
    )
    required = frozenset({draw(st.sampled_from(ids))}) if draw(st.integers(0, 3)) == 3 else frozenset()
    return Case(
        tz=tz, window_start=window_start, window_end=window_end,
        now=window_start + QUARTER * draw(st.integers(-48, 48)), rules=rules, specs=specs, required=required,
        strategy=draw(st.sampled_from(["least_loaded", "fixed_order"])),
    )


class Oracle:
    """Feasibility the slow, obvious way: every minute in local time, every assignment of distinct resources."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.memo: dict[tuple[int, datetime], bool] = {}

    def working_at(self, index: int, minute: datetime) -> bool:
        if (key := (index, minute)) not in self.memo:
            spec, local = self.case.specs[index], minute.astimezone(self.case.tz)
            day, of_day = local.date(), local.hour * 60 + local.minute
            intervals = spec.exceptions[day] if day in spec.exceptions else spec.weekly[day.weekday()]
            self.memo[key] = (
                any(a <= of_day < b for a, b in intervals)
                and not any(d == day.weekday() and a <= of_day < b for d, a, b in spec.blocks)
                and not any(a <= minute < b for a, b in spec.time_off)
            )
        return self.memo[key]

    def working(self, index: int, start: datetime, end: datetime) -> bool:
        minutes = int((end - start) / timedelta(minutes=1))
        return all(self.working_at(index, start + timedelta(minutes=m)) for m in range(minutes))

    def free_unit(self, index: int, start: datetime, end: datetime) -> bool:
        spec = self.case.specs[index]
        return any(
            not any(h.unit == unit and h.starts_at < end and start < h.ends_at for h in spec.held)
            for unit in range(spec.capacity)
        )

    def usable(self, start: datetime) -> list[int]:
        rules = self.case.rules
        begin, finish = start - rules.buffer_before, start + rules.duration + rules.buffer_after
        return [
            i for i, spec in enumerate(self.case.specs)
            if self.working(i, begin, finish) and self.free_unit(i, begin, finish + timedelta(minutes=spec.lock))
        ]

    def feasible(self, start: datetime) -> bool:
        places = [need for need in self.case.rules.needs for _ in range(need.count)]
        specs = self.case.specs
        return any(
            all(specs[i].kind == need.kind and need.skills <= specs[i].skills for i, need in zip(chosen, places))
            and self.case.required <= {specs[i].id for i in chosen}
            for chosen in permutations(self.usable(start), len(places))
        )

    def grid(self) -> list[datetime]:
        case, step = self.case, int(self.case.rules.step / timedelta(minutes=1))
        starts: set[datetime] = set()
        day = case.window_start.astimezone(case.tz).date() - timedelta(days=1)
        while day <= case.window_end.astimezone(case.tz).date() + timedelta(days=1):
            for k in range(24 * 60 // step):
                naive = datetime.combine(day, time()) + timedelta(minutes=k * step)
                for fold in (0, 1):
                    instant = naive.replace(tzinfo=case.tz, fold=fold).astimezone(UTC)
                    if instant.astimezone(case.tz).replace(tzinfo=None) == naive:  # else: skipped by the clock
                        starts.add(instant)
            day += timedelta(days=1)
        earliest, latest = case.now + case.rules.min_notice, case.now + case.rules.max_advance
        return sorted(s for s in starts if case.window_start <= s < case.window_end and earliest <= s <= latest)

    def starts(self) -> list[datetime]:
        return [s for s in self.grid() if self.feasible(s)]


@st.composite
def staffings(draw: st.DrawFn) -> tuple[ServiceRules, list[ResourceCalendar], frozenset[UUID]]:
    """Resources free all day (or busy all day) with random kinds and skills, and needs of up to three kinds of
    place. Set against a greedy pick: the most skilled resources come first in every preference order (lowest
    ids, no load) and the least demanding needs come first."""
    kinds = st.sampled_from(["staff", "staff", "staff", "room"])
    resources = []
    for i in range(draw(st.integers(2, 5))):
        skills = draw(st.sets(st.sampled_from(["a", "b"])))
        busy = [Held.between(at("2026-06-01 08:00"), at("2026-06-01 18:00"), 0, "busy")] if draw(st.integers(0, 4)) == 0 else []
        resources.append(resource(f"r{i}", draw(kinds), skills, number=(10 - len(skills)) * 10 + i, held=busy))
    needs = sorted(
        ((draw(kinds), sorted(draw(st.sets(st.sampled_from(["a", "b"]), max_size=1))), draw(st.integers(1, 2)))
         for _ in range(draw(st.integers(1, 3)))),
        key=lambda need: len(need[1]),
    )
    required = frozenset({draw(st.sampled_from(resources)).id}) if draw(st.booleans()) else frozenset()
    return service(60, needs=needs), resources, required


@settings(deadline=None, max_examples=200)
@given(staffings(), st.sampled_from(["least_loaded", "fixed_order"]))
def test_a_slot_exists_exactly_when_some_assignment_of_distinct_resources_does(
    staffing: tuple[ServiceRules, list[ResourceCalendar], frozenset[UUID]], strategy: Strategy
) -> None:
    rules, resources, required = staffing
    places = [need for need in rules.needs for _ in range(need.count)]
    free = [r for r in resources if not r.held]

    slot = start_at(rules, resources, "2026-06-01 10:00", required=required, strategy=strategy)

    assert (slot is not None) == any(
        all(r.kind == need.kind and need.skills <= r.skills for r, need in zip(chosen, places))
        and required <= {r.id for r in chosen}
        for chosen in permutations(free, len(places))
    )
    if slot is not None:
        by_id = {r.id: r for r in resources}
        chosen = [by_id[p.resource_id] for p in slot.picks]
        assert len(set(slot.picks)) == len(places)
        assert all(r.kind == need.kind and need.skills <= r.skills and not r.held for r, need in zip(chosen, places))
        assert required <= {r.id for r in chosen}


@settings(deadline=None, max_examples=120)
@given(cases())
def test_slots_are_exactly_the_starts_a_brute_force_oracle_finds(case: Case) -> None:
    slots = case.slots()

    assert [s.starts_at for s in slots] == Oracle(case).starts()


@settings(deadline=None, max_examples=60)
@given(cases())
def test_checking_any_start_gives_the_slot_find_slots_offers_there_or_none(case: Case) -> None:
    # A booking checks its one start alone (check_start cuts the calendar to it): slots and misses alike
    # must agree with the whole window's search, off-grid starts and starts outside working hours included.
    calendars = case.calendars()
    offered = {s.starts_at: s for s in case.slots(calendars)}
    starts = [case.window_start + QUARTER * k for k in range(int((case.window_end - case.window_start) / QUARTER))]

    checked = {
        start: check_start(
            case.rules, calendars, start, tz=case.tz, now=case.now, required=case.required, strategy=case.strategy
        )
        for start in starts
    }

    assert {start: slot for start, slot in checked.items() if slot is not None} == offered


@settings(deadline=None, max_examples=60)
@given(cases())
def test_every_slot_can_be_booked_without_breaking_the_calendar(case: Case) -> None:
    calendars = case.calendars()
    slots = case.slots(calendars)
    oracle = Oracle(case)
    places = [need for need in case.rules.needs for _ in range(need.count)]
    by_id = {c.id: c for c in calendars}

    for slot in slots[:: max(1, len(slots) // 6)]:
        again = check_start(
            case.rules, calendars, slot.starts_at, tz=case.tz, now=case.now, required=case.required,
            strategy=case.strategy,
        )
        booked = book(case.rules, slot, calendars, "new booking")

        assert again == slot
        assert len({p.resource_id for p in slot.picks}) == len(slot.picks) == len(places)
        assert case.required <= {p.resource_id for p in slot.picks}
        for pick, need in zip(slot.picks, places):
            resource = by_id[pick.resource_id]
            assert resource.kind == need.kind and need.skills <= resource.skills and 0 <= pick.unit < resource.capacity
            index = calendars.index(resource)
            assert oracle.working(index, slot.starts_at - case.rules.buffer_before,
                                  slot.ends_at + case.rules.buffer_after)
        for resource in booked:
            rows = resource.held
            assert not [
                (x, y) for x in rows for y in rows
                if x.holder < y.holder and x.unit == y.unit and x.starts_at < y.ends_at and y.starts_at < x.ends_at
            ]


@settings(deadline=None, max_examples=40)
@given(cases())
def test_the_same_calendars_give_the_same_slots_in_any_order(case: Case) -> None:
    calendars = case.calendars()

    first, second, reversed_order = case.slots(calendars), case.slots(calendars), case.slots(calendars[::-1])

    assert first == second == reversed_order


def test_branch_opening_hours_cut_resource_hours() -> None:
    hours = parse_schedule(
        {"weekly": {"mon": [["08:00", "20:00"]], "tue": [["08:00", "12:00"], ["13:00", "20:00"]]},
         "exceptions": [{"date": "2026-12-05", "intervals": [["07:00", "23:00"]]}]}
    )
    opening = parse_weekly({"mon": [["10:00", "18:00"]], "tue": [["11:00", "14:00"]], "sat": [["09:00", "21:00"]]})

    cut = within_opening_hours(hours, opening)

    assert cut.weekly[0] == ((time(10), time(18)),)
    assert cut.weekly[1] == ((time(11), time(12)), (time(13), time(14)))
    assert cut.exceptions[date(2026, 12, 5)] == ((time(9), time(21)),)  # a Saturday
    assert within_opening_hours(hours, {}) == hours


def test_scheduled_ranges_follow_the_wall_clock_across_daylight_saving_and_leave_out_time_off() -> None:
    new_york = ZoneInfo("America/New_York")
    hours = parse_schedule({"weekly": {"sun": [["01:00", "04:00"]], "mon": [["09:00", "10:00"]]}})
    off = [(datetime(2026, 3, 9, 13, 30, tzinfo=UTC), datetime(2026, 3, 9, 14, 30, tzinfo=UTC))]

    spring = scheduled_ranges(hours, off, tz=new_york, first_day=date(2026, 3, 8), last_day=date(2026, 3, 9))
    autumn = scheduled_ranges(hours, [], tz=new_york, first_day=date(2026, 11, 1), last_day=date(2026, 11, 1))

    # 01:00–04:00 is two hours on the spring-forward Sunday; Monday 09:00 EDT is 13:00 UTC, half taken off.
    assert spring == [
        (datetime(2026, 3, 8, 6, 0, tzinfo=UTC), datetime(2026, 3, 8, 8, 0, tzinfo=UTC)),
        (datetime(2026, 3, 9, 13, 0, tzinfo=UTC), datetime(2026, 3, 9, 13, 30, tzinfo=UTC)),
    ]
    assert autumn == [(datetime(2026, 11, 1, 5, 0, tzinfo=UTC), datetime(2026, 11, 1, 9, 0, tzinfo=UTC))]  # four hours
    offsets = [offset.total_seconds() / 3600 for _, _, offset in utc_offset_segments(new_york, date(2026, 3, 1), date(2026, 3, 31))]
    assert offsets == [-5, -4]
