"""The catalog pages on both engines: a service's requirement the branch cannot meet is named inline and
nothing is made, prices are typed in yuan and kept in fen, the weekly schedule editor saves what
availability then offers, and a role that may only read the catalog sees no way to change it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.bookings.availability import free_slots
from appliance.catalog import queries
from appliance.testing.builders import make_branch, make_resource, make_service
from tests.appliance.web.test_admin_customers import _signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSED_WEEKLY = {f"weekly.{d}[0].{p}": "" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") for p in ("start", "end")}


def _service_form(branch_id: UUID, **fields: str) -> dict[str, str]:
    return {
        "branch_id": str(branch_id), "name": "热石按摩", "description": "", "duration_minutes": "60",
        "buffer_before_minutes": "0", "buffer_after_minutes": "10", "price": "198.50", "seats": "1",
        "slot_step_minutes": "15", "min_notice_minutes": "0", "max_advance_days": "90", "cancel_cutoff_minutes": "120",
        "reschedule_cutoff_minutes": "120", "requirements[0].kind": "staff", "requirements[0].skills": "massage",
        "requirements[0].count": "1", "requirements[1].kind": "", "requirements[1].skills": "", "requirements[1].count": "",
        **fields,
    }


async def _services(branch_id: UUID) -> list[str]:
    found, _ = await queries.list_services(actor=cli_actor(), branch_id=branch_id, limit=50)
    return sorted(s.name for s in found)


def _next(weekday: int, weeks_ahead: int = 1) -> date:
    """A day of that weekday (0 = Monday) at least a week from today in Shanghai."""
    today = datetime.now(SHANGHAI).date() + timedelta(days=7 * weeks_ahead)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


async def _local_starts(service_id: UUID, day: date) -> list[str]:
    starts = datetime.combine(day, datetime.min.time(), SHANGHAI)
    found = await free_slots(cli_actor(), service_id, starts, starts + timedelta(days=1), None, public=False)
    return [s.starts_at.astimezone(SHANGHAI).strftime("%H:%M") for s in found.slots]


async def test_a_requirement_the_branch_cannot_meet_is_named_inline_and_nothing_is_made(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    headers = await _signed_in(client)

    refused = await client.post(
        "/admin/catalog/services", data=_service_form(branch.id, **{"requirements[0].kind": "room"}),
        headers={**headers, "Accept-Language": "zh-CN"},
    )

    assert refused.status_code == 422
    assert 'id="req-0-kind" name="requirements[0].kind" aria-invalid="true" aria-describedby="requirements[0]-error"' in refused.text
    assert '<p class="field-error" id="requirements[0]-error">门店当前启用的资源无法满足此要求' in refused.text
    assert 'value="198.50"' in refused.text  # what was typed stays
    assert await _services(branch.id) == []
    made = await client.post("/admin/catalog/services", data=_service_form(branch.id), headers=headers)
    [service] = (await queries.list_services(actor=cli_actor(), branch_id=branch.id, limit=5))[0]
    assert made.headers["hx-location"] == f"/admin/catalog/services/{service.id}"
    assert (service.price.amount, service.buffer_after_minutes, service.requirements[0].skills) == (19850, 10, ["massage"])
    listed = await client.get(f"/admin/catalog/?branch={branch.id}&lang=en")
    assert "热石按摩" in listed.text and "CN¥198.50" in listed.text


async def test_the_weekly_schedule_editor_saves_what_availability_then_offers(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id)
    service = await make_service(branch.id)
    headers = await _signed_in(client)
    monday, closed_monday = _next(0), _next(0, 2)
    assert "09:00" in await _local_starts(service.id, monday)  # the builder's 09:00–18:00 every day

    saved = await client.post(f"/admin/catalog/resources/{wang.id}/schedule", data={
        **CLOSED_WEEKLY, "weekly.mon[0].start": "10:00", "weekly.mon[0].end": "12:00",
        "weekly.mon[1].start": "", "weekly.mon[1].end": "", "weekly.mon[2].start": "14:00", "weekly.mon[2].end": "16:00",
        "exceptions[0].date": closed_monday.isoformat(), "exceptions[0].hours": "",
    }, headers=headers)

    assert saved.status_code == 200, saved.text
    schedule = await queries.get_schedule(wang.id, actor=cli_actor())
    assert schedule.weekly == {"mon": [("10:00", "12:00"), ("14:00", "16:00")]}
    assert [(e.date, e.intervals) for e in schedule.exceptions] == [(closed_monday, [])]
    assert await _local_starts(service.id, monday) == ["10:00", "10:15", "10:30", "10:45", "11:00", "14:00", "14:15", "14:30", "14:45", "15:00"]
    assert await _local_starts(service.id, closed_monday) == []
    assert await _local_starts(service.id, monday + timedelta(days=1)) == []
    page = await client.get(f"/admin/catalog/resources/{wang.id}")
    assert 'name="weekly.mon[1].start" value="14:00"' in page.text


async def test_a_bad_interval_is_named_on_its_row_and_the_schedule_stays(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id)
    headers = await _signed_in(client)
    before = await queries.get_schedule(wang.id, actor=cli_actor())

    backwards = await client.post(f"/admin/catalog/resources/{wang.id}/schedule", data={
        **CLOSED_WEEKLY, "weekly.tue[0].start": "", "weekly.tue[1].start": "12:00", "weekly.tue[1].end": "10:00",
    }, headers={**headers, "Accept-Language": "zh-CN"})
    badly_typed = await client.post(f"/admin/catalog/resources/{wang.id}/schedule", data={
        **CLOSED_WEEKLY, "weekly.wed[0].start": "9am", "weekly.wed[0].end": "18:00",
    }, headers={**headers, "Accept-Language": "zh-CN"})

    assert backwards.status_code == badly_typed.status_code == 422
    assert '<p class="field-error" id="weekly-tue[1]-error">开始时间必须早于结束时间。' in backwards.text
    assert 'name="weekly.tue[1].start" value="12:00"' in backwards.text
    assert '<p class="field-error" id="weekly-wed[0]-error">请使用“时:分”格式' in badly_typed.text
    assert await queries.get_schedule(wang.id, actor=cli_actor()) == before


async def test_time_off_is_added_in_the_branch_zone_and_removed(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id)
    headers = await _signed_in(client)
    day = _next(2)

    await client.post(f"/admin/catalog/resources/{wang.id}/time-off", data={
        "starts_at": f"{day}T13:00", "ends_at": f"{day}T15:30", "reason": "体检",
    }, headers=headers)

    [off] = await queries.list_time_off(wang.id, actor=cli_actor())
    assert off.starts_at == datetime.combine(day, datetime.min.time(), SHANGHAI).replace(hour=13)
    assert (off.ends_at - off.starts_at, off.reason) == (timedelta(hours=2, minutes=30), "体检")
    wrong = await client.post(f"/admin/catalog/resources/{wang.id}/time-off", data={
        "starts_at": f"{day}T15:00", "ends_at": f"{day}T13:00",
    }, headers=headers)
    assert wrong.status_code == 422 and 'aria-describedby="ends_at-error"' in wrong.text
    await client.post(f"/admin/catalog/resources/{wang.id}/time-off/{off.id}/remove", headers=headers)
    assert await queries.list_time_off(wang.id, actor=cli_actor()) == []


async def test_a_branch_is_made_with_its_zone_and_opening_hours(client: httpx.AsyncClient) -> None:
    headers = await _signed_in(client)

    wrong = await client.post("/admin/catalog/branches", data={
        "name": "徐汇店", "timezone": "Mars/Olympus", "address": "", **CLOSED_WEEKLY,
    }, headers=headers)
    made = await client.post("/admin/catalog/branches", data={
        "name": "徐汇店", "timezone": "Asia/Urumqi", "address": "漕溪北路 1 号", **CLOSED_WEEKLY,
        "opening_hours.sat[0].start": "10:00", "opening_hours.sat[0].end": "22:00",
    }, headers=headers)

    assert wrong.status_code == 422 and 'aria-describedby="timezone-error"' in wrong.text
    branches, _ = await queries.list_branches(actor=cli_actor(), after=None, limit=5)
    [branch] = branches
    assert made.headers["hx-location"] == f"/admin/catalog/?branch={branch.id}"
    assert (branch.name, branch.timezone, branch.opening_hours) == ("徐汇店", "Asia/Urumqi", {"sat": [("10:00", "22:00")]})


async def test_front_desk_reads_the_catalog_but_sees_no_way_to_change_it(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id)
    service = await make_service(branch.id)
    headers = await _signed_in(client, Role.front_desk)
    before = await queries.get_schedule(wang.id, actor=cli_actor())

    index = await client.get("/admin/catalog/")
    resource = await client.get(f"/admin/catalog/resources/{wang.id}")
    service_page = await client.get(f"/admin/catalog/services/{service.id}")

    assert index.status_code == resource.status_code == service_page.status_code == 200
    assert "/admin/catalog/services/new" not in index.text and "/admin/catalog/resources/new" not in index.text
    assert "/admin/catalog/branches/new" not in index.text
    for page in (resource.text, service_page.text):
        assert 'type="submit"' not in page and "<fieldset disabled>" in page
    assert (await client.get("/admin/catalog/services/new")).status_code == 403
    refused = [
        await client.post("/admin/catalog/services", data=_service_form(branch.id), headers=headers),
        await client.post(f"/admin/catalog/resources/{wang.id}/schedule", data=CLOSED_WEEKLY, headers=headers),
        await client.post(f"/admin/catalog/services/{service.id}", data=_service_form(branch.id), headers=headers),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert await queries.get_schedule(wang.id, actor=cli_actor()) == before
    assert await _services(branch.id) == ["精油按摩"]


async def test_the_service_form_sets_which_free_resource_a_booking_gets(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    headers = await _signed_in(client)

    made = await client.post("/admin/catalog/services", data=_service_form(branch.id, assignment="fixed_order"), headers=headers)
    [service] = (await queries.list_services(actor=cli_actor(), branch_id=branch.id, limit=5))[0]
    page = await client.get(f"/admin/catalog/services/{service.id}", headers={"Accept-Language": "zh-CN"})
    kept = await client.post(f"/admin/catalog/services/{service.id}", data=_service_form(branch.id, name="热石按摩 90"), headers=headers)
    [after] = (await queries.list_services(actor=cli_actor(), branch_id=branch.id, limit=5))[0]

    assert made.status_code in (200, 201), made.text
    assert service.assignment == "fixed_order"
    assert '<option value="fixed_order" selected>始终按固定顺序（排满一位再排下一位）</option>' in page.text
    assert kept.status_code in (200, 201) and (after.name, after.assignment) == ("热石按摩 90", "fixed_order")
