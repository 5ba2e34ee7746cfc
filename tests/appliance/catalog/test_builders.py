"""The catalog builders other tests rely on: they go through the actions and give bookable defaults."""

from __future__ import annotations

from appliance.audit.tables import AuditEntry
from appliance.catalog import queries
from appliance.catalog.schemas import Money, Schedule
from appliance.auth.actor import cli_actor
from appliance.testing.builders import make_branch, make_resource, make_service, requirement


async def test_make_resource_gives_an_audited_staff_member_working_every_day_nine_to_six(database: str) -> None:
    branch = await make_branch()

    therapist = await make_resource(branch.id)

    schedule = await queries.get_schedule(therapist.id, actor=cli_actor())
    assert (therapist.kind, therapist.skills, therapist.capacity, therapist.active) == ("staff", ["massage"], 1, True)
    assert set(schedule.weekly) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
    assert all(intervals == [("09:00", "18:00")] for intervals in schedule.weekly.values())
    actions = [a["action"] for a in await AuditEntry.select(AuditEntry.action).where(AuditEntry.target_id == str(therapist.id))]
    assert sorted(actions) == ["resource.created", "resource.schedule_set"]


async def test_make_resource_takes_kind_skills_capacity_schedule_and_lock(database: str) -> None:
    branch = await make_branch()
    weekends = Schedule(weekly={"sat": [("10:00", "16:00")], "sun": [("10:00", "16:00")]})

    room = await make_resource(branch.id, "room", "四人间", skills=("vip", "sauna"), capacity=4, schedule=weekends, post_use_lock_minutes=120)

    assert (room.kind, room.name, room.skills, room.capacity, room.post_use_lock_minutes) == ("room", "四人间", ["vip", "sauna"], 4, 120)
    assert await queries.get_schedule(room.id, actor=cli_actor()) == weekends


async def test_make_service_defaults_fit_make_resource_defaults_and_take_overrides(database: str) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    await make_resource(branch.id, "room", "贵宾房", skills=["vip"])

    plain = await make_service(branch.id)
    custom = await make_service(
        branch.id, "精油按摩", 90, [requirement("staff", "massage"), requirement("room", "vip")],
        buffer_after_minutes=15, price=Money(amount=19800), seats=1, channels=["web"], slot_step_minutes=30,
    )

    assert (plain.name, plain.duration_minutes, plain.price, plain.active) == ("精油按摩", 60, Money(amount=0), True)
    assert [(r.kind, r.skills, r.count) for r in plain.requirements] == [("staff", ["massage"], 1)]
    assert (custom.duration_minutes, custom.buffer_after_minutes, custom.price.amount, custom.channels, custom.slot_step_minutes) == (
        90, 15, 19800, ["web"], 30,
    )
    assert [r.kind for r in custom.requirements] == ["staff", "room"]
