"""Pure catalog rules: schedule shapes and whether a branch's resources can meet a service's requirements."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from appliance.catalog.logic import ResourceFacts, opening_hours_problems, requirement_problems, schedule_problems
from appliance.catalog.schemas import RecurringBlock, Requirement, Schedule, ScheduleException


def staff(*skills: str) -> ResourceFacts:
    return ResourceFacts(id=uuid4(), kind="staff", skills=frozenset(skills))


def room(*skills: str) -> ResourceFacts:
    return ResourceFacts(id=uuid4(), kind="room", skills=frozenset(skills))


def test_a_sound_schedule_has_no_problems() -> None:
    schedule = Schedule(
        weekly={"mon": [("13:00", "18:00"), ("09:00", "12:00")], "sun": [("00:00", "24:00")], "sat": []},
        exceptions=[ScheduleException(date(2026, 12, 24), [("09:00", "12:00"), ("12:00", "15:00")])],
        blocks=[RecurringBlock("wed", "13:00", "18:00")],
    )

    assert schedule_problems(schedule) == {}


def test_schedule_problems_name_each_offending_path() -> None:
    schedule = Schedule(
        weekly={"mon": [("09:00", "12:00"), ("11:30", "13:00")], "tue": [("18:00", "09:00")]},
        exceptions=[
            ScheduleException(date(2026, 12, 24), [("10:00", "12:00"), ("09:00", "10:30")]),
            ScheduleException(date(2026, 12, 24), []),
        ],
        blocks=[RecurringBlock("wed", "13:00", "13:00")],
    )

    assert schedule_problems(schedule) == {
        "weekly.mon[1]": "overlaps weekly.mon[0] (09:00–12:00)",
        "weekly.tue[0]": "starts at 18:00, which is not before its end 09:00",
        "exceptions[0].intervals[1]": "overlaps exceptions[0].intervals[0] (10:00–12:00)",
        "exceptions[1].date": "2026-12-24 already has an exception (exceptions[0])",
        "blocks[0]": "starts at 13:00, which is not before its end 13:00",
    }


def test_an_interval_inside_another_overlaps_it() -> None:
    problems = opening_hours_problems({"fri": [("09:00", "21:00"), ("10:00", "11:00"), ("20:00", "22:00")]})

    assert set(problems) == {"opening_hours.fri[1]", "opening_hours.fri[2]"}


def test_requirements_met_by_distinct_resources() -> None:
    resources = [staff("massage"), staff("massage", "vip"), room("vip")]
    requirements = [Requirement("staff", ["massage"], 2), Requirement("room", ["vip"])]

    assert requirement_problems(requirements, resources) == {}


def test_matching_finds_an_assignment_a_greedy_pick_would_miss() -> None:
    # The first requirement could take the only massage therapist; a matching gives it the other one.
    resources = [staff("massage"), staff()]
    requirements = [Requirement("staff", [], 1), Requirement("staff", ["massage"], 1)]

    assert requirement_problems(requirements, resources) == {}


def test_too_few_fitting_resources_names_the_requirement() -> None:
    resources = [staff("massage"), room()]
    requirements = [Requirement("staff", ["massage"], 2), Requirement("room", ["vip"])]

    assert requirement_problems(requirements, resources) == {
        "requirements[0]": "needs 2 active staff members with the skill massage in this branch, but the branch has 1",
        "requirements[1]": "needs 1 active room with the skill vip in this branch, but the branch has none",
    }


def test_requirements_competing_for_the_same_resources_name_the_one_left_short() -> None:
    resources = [staff("massage", "facial"), staff("massage")]
    requirements = [Requirement("staff", ["massage"], 1), Requirement("staff", ["facial", "massage"], 1), Requirement("staff", [], 1)]

    problems = requirement_problems(requirements, resources)

    assert problems == {
        "requirements[2]": "needs 1 active staff member, but the requirements before it already take 2 of the 2 the branch has"
    }
