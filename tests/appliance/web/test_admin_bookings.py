"""The bookings and calendar pages in-process, on both engines: the list's filters, every transition and a
reschedule through the pages, the approvals queue's decision, refusals for a role that may only read,
and the calendar's events in the branch's time zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import msgspec

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.automation.actions import create_rule
from appliance.automation.schemas import RuleCreate
from appliance.bookings.actions import NewBooking, create_booking
from appliance.bookings.tables import Allocation, Booking
from appliance.catalog.actions import add_time_off
from appliance.catalog.schemas import TimeOffCreate
from appliance.customers.schemas import CustomerContact
from appliance.forms.actions import create_form
from appliance.forms.schemas import FormCreate
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service, make_user
from appliance.testing.deliveries import settle
from tests.appliance.web.test_admin_shell import csrf_of, sign_in_with_the_form

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
ORIGIN = {"Origin": "https://testserver"}


def in_days(days: int, hour: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    day = datetime.now(zone).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=zone)


async def signed_in(client: httpx.AsyncClient, username: str, role: Role) -> dict[str, str]:
    """Sign in with the form; the headers an htmx post from the page would carry."""
    await make_user(username, role)
    await sign_in_with_the_form(client, username)
    token = csrf_of((await client.get("/admin/")).text)
    return {**ORIGIN, "HX-Request": "true", "X-CSRF-Token": token}


async def status_of(booking_id: UUID) -> str:
    return str((await Booking.select(Booking.status).where(Booking.id == booking_id).first())["status"])


async def one_booking() -> UUID:
    """A branch with one staff member and one service, and a confirmed booking tomorrow at 10:00."""
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id)
    return await make_booking(service.id, in_days(1, 10))


def booking_links(html: str) -> list[str]:
    return re.findall(r'href="/admin/bookings/([0-9a-f-]{36})"', html)


async def test_the_list_filters_by_customer_phone_status_service_and_date(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id, name="王芳")
    await make_resource(branch.id, name="李娜")
    massage = await make_service(branch.id, "精油按摩")
    foot = await make_service(branch.id, "足疗", 45)
    han = await make_booking(massage.id, in_days(2, 10), name="韩梅梅", phone="+8613900000001")
    li = await make_booking(massage.id, in_days(2, 11), name="李雷", phone="+8613900000002")
    later = await make_booking(foot.id, in_days(9, 14), name="李雷", phone="+8613900000002")
    await signed_in(client, "desk", Role.front_desk)

    everything = (await client.get("/admin/bookings")).text
    assert booking_links(everything) == [str(han), str(li), str(later)]
    assert "韩梅梅" in everything and "+8613900000001" in everything

    by_phone = await client.get("/admin/bookings", params={"customer": "13900000002"})
    assert booking_links(by_phone.text) == [str(li), str(later)]
    by_last_four = await client.get("/admin/bookings", params={"customer": "0001"})
    assert booking_links(by_last_four.text) == [str(han)]
    by_name = await client.get("/admin/bookings", params={"customer": "韩梅梅"})
    assert booking_links(by_name.text) == [str(han)]
    # Names are sealed: found by their blind index, whole; a part of one finds nobody.
    part_of_a_name = await client.get("/admin/bookings", params={"customer": "韩"})
    assert booking_links(part_of_a_name.text) == []
    by_service = await client.get("/admin/bookings", params={"service_id": str(foot.id)})
    assert booking_links(by_service.text) == [str(later)]
    first_week = await client.get("/admin/bookings", params={"to": in_days(5, 0).date().isoformat()})
    assert booking_links(first_week.text) == [str(han), str(li)]
    nothing_pending = await client.get("/admin/bookings", params={"status": "pending_approval"})
    assert booking_links(nothing_pending.text) == []
    made_up = await client.get("/admin/bookings", params={"branch_id": "not-an-id", "service_id": "x", "from": "y"})
    assert made_up.status_code == 200


async def test_front_desk_checks_a_customer_in_and_completes_the_booking_through_the_page(client: httpx.AsyncClient) -> None:
    booking = await one_booking()
    headers = await signed_in(client, "desk", Role.front_desk)

    page = (await client.get(f"/admin/bookings/{booking}")).text
    assert f'hx-post="/admin/bookings/{booking}/check-in"' in page and f'hx-post="/admin/bookings/{booking}/cancel"' in page
    assert f"/admin/bookings/{booking}/no-show" not in page  # not before the booking starts

    checked_in = await client.post(f"/admin/bookings/{booking}/check-in", headers=headers)
    assert checked_in.status_code == 200 and checked_in.headers["hx-location"] == f"/admin/bookings/{booking}"
    assert await status_of(booking) == "checked_in"
    again = await client.post(f"/admin/bookings/{booking}/check-in", headers=headers)
    assert again.status_code == 409 and "不能" in again.text and 'role="alert"' in again.text
    await client.post(f"/admin/bookings/{booking}/complete", headers=headers)
    assert await status_of(booking) == "completed"

    timeline = (await client.get(f"/admin/bookings/{booking}")).text.split('id="h-timeline"', 1)[1]
    assert [w for w in ("已预约", "已到店", "已完成") if w in timeline] == ["已预约", "已到店", "已完成"]
    assert timeline.index("已预约") < timeline.index("已到店") < timeline.index("已完成")


async def test_a_reschedule_moves_the_booking_in_branch_time_and_a_cancelled_booking_offers_nothing_more(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id)
    moved = await make_booking(service.id, in_days(3, 10))
    cancelled = await make_booking(service.id, in_days(3, 14), phone="+8613900000009")
    headers = await signed_in(client, "desk", Role.front_desk)

    new_start = in_days(3, 15)
    answer = await client.post(f"/admin/bookings/{moved}/reschedule", headers=headers,
                               data={"starts_at": new_start.replace(tzinfo=None).isoformat(timespec="minutes")})
    assert answer.status_code == 200
    row = await Booking.select(Booking.starts_at).where(Booking.id == moved).first()
    assert row["starts_at"] == new_start

    past = await client.post(f"/admin/bookings/{moved}/reschedule", headers=headers, data={"starts_at": "2020-01-01T10:00"})
    assert past.status_code == 422 and "该时间已过" in past.text
    assert 'aria-invalid="true" aria-describedby="starts_at-error"' in past.text and 'value="2020-01-01T10:00"' in past.text

    clash = await client.post(f"/admin/bookings/{cancelled}/reschedule", headers=headers,
                              data={"starts_at": new_start.replace(tzinfo=None).isoformat(timespec="minutes")})
    assert clash.status_code == 409 and "该时间已被占用" in clash.text

    await client.post(f"/admin/bookings/{cancelled}/cancel", headers=headers, data={"reason": "客户来电取消"})
    assert await status_of(cancelled) == "cancelled"
    after = (await client.get(f"/admin/bookings/{cancelled}")).text
    assert "confirmed → cancelled" in after and "hx-post" not in after.split("<main", 1)[1]  # nothing more to do


async def test_a_role_that_only_reads_bookings_sees_no_buttons_and_is_refused_every_change(client: httpx.AsyncClient) -> None:
    booking = await one_booking()
    headers = await signed_in(client, "therapist", Role.staff)

    page = await client.get(f"/admin/bookings/{booking}")
    assert page.status_code == 200 and "hx-post" not in page.text.split("<main", 1)[1]
    for path in ("check-in", "cancel", "reschedule"):
        refused = await client.post(f"/admin/bookings/{booking}/{path}", headers=headers, data={"starts_at": "2030-01-01T10:00"})
        assert refused.status_code == 403, path
    moved = await client.post("/admin/calendar/move", headers=headers, json={"booking_id": str(booking), "starts_at": "2030-01-01T10:00"})
    assert moved.status_code == 403
    assert await status_of(booking) == "confirmed"


async def test_a_manager_decides_both_levels_of_an_approval_in_the_queue(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id, name="医生", skills=["laser"])
    laser = await make_service(branch.id, "激光治疗", 60, [{"kind": "staff", "skills": ["laser"], "count": 1}],
                               requires_approval=True)
    await create_rule(RuleCreate(
        name="两级审批", trigger={"event": "booking.created"},
        conditions={"all": [{"field": "service.id", "op": "eq", "value": str(laser.id)}]},
        actions=[{"type": "require_approval", "levels": [
            {"approver_role": "manager", "time_limit_minutes": 60}, {"approver_role": "manager", "time_limit_minutes": 60},
        ]}],
    ), actor=cli_actor())
    booking = await make_booking(laser.id, in_days(4, 10))
    await settle()
    headers = await signed_in(client, "boss", Role.manager)

    queue = (await client.get("/admin/bookings/approvals")).text
    [approval] = re.findall(r'hx-post="/admin/bookings/approvals/([0-9a-f-]{36})/approve"', queue)
    assert "第 1 级，共 2 级" in queue

    page = (await client.get(f"/admin/bookings/{booking}")).text
    assert f"/admin/bookings/{booking}/approve" not in page and 'href="/admin/bookings/approvals"' in page
    plain = await client.post(f"/admin/bookings/{booking}/approve", headers=headers)
    assert plain.status_code == 409 and "审批队列" in plain.text  # the levels decide, not the booking's own approve
    first = await client.post(f"/admin/bookings/approvals/{approval}/approve", headers=headers)
    assert first.status_code == 200 and first.headers["hx-location"] == "/admin/bookings/approvals"
    assert await status_of(booking) == "pending_approval"
    assert "第 2 级，共 2 级" in (await client.get("/admin/bookings/approvals")).text
    await client.post(f"/admin/bookings/approvals/{approval}/approve", headers=headers)
    assert await status_of(booking) == "confirmed"
    assert "没有待审批" in (await client.get("/admin/bookings/approvals")).text
    decided = await client.post(f"/admin/bookings/approvals/{approval}/reject", headers=headers, data={"reason": "x"})
    assert decided.status_code == 409

    refused = await make_booking(laser.id, in_days(4, 14), phone="+8613900000002")
    await settle()
    [second] = re.findall(r'hx-post="/admin/bookings/approvals/([0-9a-f-]{36})/reject"',
                          (await client.get("/admin/bookings/approvals")).text)
    rejected = await client.post(f"/admin/bookings/approvals/{second}/reject", headers=headers, data={"reason": "设备检修"})
    assert rejected.status_code == 200
    assert await status_of(refused) == "rejected"
    assert await Allocation.count().where((Allocation.booking == refused) & (Allocation.active == True)) == 0  # noqa: E712


async def test_the_calendar_events_are_the_branch_wall_clock_and_a_drag_onto_a_taken_time_is_refused(
    client: httpx.AsyncClient,
) -> None:
    branch = await make_branch("纽约店", "America/New_York")
    wang = await make_resource(branch.id, name="王芳")
    li = await make_resource(branch.id, name="李娜")
    service = await make_service(branch.id)
    await add_time_off(li.id, TimeOffCreate(starts_at=in_days(3, 16, NEW_YORK), ends_at=in_days(3, 18, NEW_YORK)),
                       actor=cli_actor())
    first = await make_booking(service.id, in_days(3, 10, NEW_YORK), phone="+8613900000011")
    second = await make_booking(service.id, in_days(3, 12, NEW_YORK), phone="+8613900000012")
    headers = await signed_in(client, "desk", Role.front_desk)
    day = in_days(3, 0, NEW_YORK).date().isoformat()

    events = (await client.get("/admin/calendar/events", params={
        "branch_id": str(branch.id), "start": f"{day}T00:00:00", "end": f"{day}T23:59:59",
    })).json()
    by_id = {e["id"]: e for e in events}
    assert by_id[str(first)]["start"] == f"{day}T10:00" and by_id[str(first)]["end"] == f"{day}T11:00"
    assert by_id[str(first)]["classNames"] == ["status-confirmed"] and by_id[str(first)]["editable"] is True
    [away] = [e for e in events if e["display"] == "background"]
    assert (away["resourceIds"], away["start"], away["end"]) == ([str(li.id)], f"{day}T16:00", f"{day}T18:00")
    first_lane = by_id[str(first)]["resourceIds"][0]
    assert first_lane in (str(wang.id), str(li.id))

    same_lane_taken = by_id[str(second)]["resourceIds"][0] == first_lane
    target = f"{day}T12:00"
    refused = await client.post("/admin/calendar/move", headers=headers, json={
        "booking_id": str(first), "starts_at": target, "from_resource_id": first_lane,
        "to_resource_id": by_id[str(second)]["resourceIds"][0],
    })
    assert refused.status_code == 409 and "该时间已被占用" in refused.json()["message"]
    unchanged = await Booking.select(Booking.starts_at).where(Booking.id == first).first()
    assert unchanged["starts_at"] == in_days(3, 10, NEW_YORK)

    moved = await client.post("/admin/calendar/move", headers=headers, json={
        "booking_id": str(first), "starts_at": f"{day}T15:00", "from_resource_id": first_lane, "to_resource_id": first_lane,
    })
    assert moved.status_code == 200
    row = await Booking.select(Booking.starts_at).where(Booking.id == first).first()
    assert row["starts_at"] == in_days(3, 15, NEW_YORK)


async def test_the_calendar_dialog_books_and_names_a_bad_phone_next_to_its_input(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    wang = await make_resource(branch.id, name="王芳")
    service = await make_service(branch.id)
    headers = await signed_in(client, "desk", Role.front_desk)
    page = await client.get("/admin/calendar")
    assert page.status_code == 200 and 'id="calendar"' in page.text and "王芳" in page.text
    start = in_days(2, 11).replace(tzinfo=None).isoformat(timespec="minutes")
    form = {"branch_id": str(branch.id), "service_id": str(service.id), "starts_at": start, "resource_id": str(wang.id),
            "name": "新客", "phone": "12"}

    bad = await client.post("/admin/calendar/bookings", headers=headers, data=form)
    assert bad.status_code == 422 and 'aria-invalid="true" aria-describedby="customer-phone-error"' in bad.text
    assert "请输入有效的手机号码" in bad.text
    good = await client.post("/admin/calendar/bookings", headers=headers, data={**form, "phone": "+8613900000077"})
    assert good.status_code == 200 and "booking-created" in good.headers["hx-trigger"]
    [row] = await Booking.select(Booking.starts_at, Booking.channel)
    assert row["starts_at"] == in_days(2, 11) and row["channel"] == "admin"


async def test_a_booking_shows_its_answers_by_the_question_and_option_labels_of_its_form(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id)
    fields = [{"key": "pressure", "type": "single_select", "label": {"zh-CN": "力度偏好", "en": "Pressure"}, "required": True,
               "options": [{"value": "soft", "label": {"zh-CN": "轻", "en": "Soft"}},
                           {"value": "firm", "label": {"zh-CN": "重", "en": "Firm"}}]}]
    await create_form(msgspec.convert({"target": "service", "name": "问卷", "fields": fields, "service_id": str(service.id)},
                                      FormCreate), actor=cli_actor())
    created = await create_booking(NewBooking(
        service_id=service.id, starts_at=in_days(2, 10), channel="admin", answers={"pressure": "firm"},
        customer=CustomerContact(name="韩梅梅", phone="+8613900000001"),
    ), actor=cli_actor(), staff=True)
    await signed_in(client, "desk", Role.front_desk)

    details = (await client.get(f"/admin/bookings/{created.booking.id}")).text.split('id="h-details"', 1)[1]
    assert "<dt>力度偏好</dt><dd>重</dd>" in details
    english = (await client.get(f"/admin/bookings/{created.booking.id}?lang=en")).text
    assert "<dt>Pressure</dt><dd>Firm</dd>" in english


async def test_the_list_pages_by_cursor_in_start_order(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    for name in ("王芳", "李娜", "张伟"):
        await make_resource(branch.id, name=name)
    service = await make_service(branch.id)
    made = [await make_booking(service.id, in_days(1 + n // 27, 9 + n % 9), phone=f"+86139000{n:05d}") for n in range(54)]
    await signed_in(client, "desk", Role.front_desk)

    seen: list[str] = []
    path = "/admin/bookings"
    while path and len(seen) <= 54:  # a cursor that went round in circles would fail the count, not hang
        html = (await client.get(path)).text
        seen += booking_links(html)
        more = re.search(r'<a class="button" href="(/admin/bookings\?[^"]*cursor=[^"]*)"', html)  # "Next page"
        path = more.group(1).replace("&amp;", "&") if more else ""
    assert sorted(seen) == sorted(str(b) for b in made) and len(seen) == len(set(seen)) == 54
