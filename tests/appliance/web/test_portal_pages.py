"""The customer portal's pages in-process: the booking flow, inline errors in the customer's language,
manage (reschedule, cancel), the calendar file and the survey — on both engines."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import msgspec

from appliance.auth.actor import cli_actor
from appliance.auth.credentials import digest
from appliance.bookings.tables import Allocation, Booking
from appliance.forms import actions as form_actions
from appliance.forms.schemas import FormCreate
from appliance.notifications.channels import public_url
from appliance.surveys.actions import invite
from appliance.surveys.tables import SurveyAnswer
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORIGIN = {"Origin": "https://testserver"}


async def a_branch_with_a_service(*, picks_staff: bool = False, form: bool = True) -> tuple[UUID, UUID, UUID]:
    branch = await make_branch("静安店")
    staff = await make_resource(branch.id, name="王芳")
    service = await make_service(branch.id, "精油按摩", customer_picks_staff=picks_staff)
    if not form:
        return branch.id, service.id, staff.id
    fields = [{"key": "allergy", "type": "text", "label": {"zh-CN": "过敏史", "en": "Allergies"}, "required": True}]
    questions = msgspec.convert({"target": "service", "name": "按摩问卷", "fields": fields, "service_id": str(service.id)}, FormCreate)
    await form_actions.create_form(questions, actor=cli_actor())
    return branch.id, service.id, staff.id


def tomorrow_at(hour: int) -> datetime:
    day = datetime.now(SHANGHAI).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI)


def starts_of(link: str) -> datetime:
    return datetime.fromisoformat(parse_qs(urlsplit(link).query)["start"][0])


def links(html: str, prefix: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html) if h.startswith(prefix)]


async def test_a_customer_books_through_the_pages_and_gets_a_manage_link(client: httpx.AsyncClient) -> None:
    branch_id, service_id, staff_id = await a_branch_with_a_service(picks_staff=True)
    start = tomorrow_at(10)

    home = await client.get("/portal/")
    services = await client.get(links(home.text, "/portal/branches/")[0])
    when = await client.get(links(services.text, "/portal/services/")[0], params={"staff": str(staff_id), "day": start.date().isoformat()})
    slot = next(h for h in links(when.text, f"/portal/services/{service_id}/book") if starts_of(h) == start)
    details = await client.get(slot)
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', details.text)
    assert key
    form = {"start": start.isoformat(), "staff": str(staff_id), "idempotency_key": key.group(1),
            "name": "韩梅梅", "phone": "+8613900000001", "answers.allergy": "无"}
    booked = await client.post(f"/portal/services/{service_id}/book", data=form, headers=ORIGIN)
    again = await client.post(f"/portal/services/{service_id}/book", data=form, headers=ORIGIN)  # a double click

    assert home.status_code == 200 and "选择门店" in home.text and "静安店" in home.text  # zh-CN by default
    assert "王芳" in when.text and 'aria-current="date"' in when.text
    assert "过敏史" in details.text and 'for="answers.allergy"' in details.text
    assert booked.status_code == 303, booked.text
    assert again.headers["location"] == booked.headers["location"]
    manage = await client.get(booked.headers["location"])
    assert manage.status_code == 200 and "预约成功" in manage.text and manage.headers["cache-control"] == "no-store"
    [row] = await Booking.select(Booking.starts_at, Booking.channel, Booking.status)
    assert (row["starts_at"], row["channel"], row["status"]) == (start, "web", "confirmed")


async def test_bad_details_are_shown_inline_in_the_customers_language(client: httpx.AsyncClient) -> None:
    _, service_id, _ = await a_branch_with_a_service()
    form = {"start": tomorrow_at(11).isoformat(), "name": "", "phone": "+8613900000001"}

    no_name = await client.post(f"/portal/services/{service_id}/book", params={"lang": "en"}, data=form, headers=ORIGIN)
    no_answer = await client.post(f"/portal/services/{service_id}/book", data={**form, "name": "韩梅梅"}, headers=ORIGIN)
    in_chinese = await client.post(
        f"/portal/services/{service_id}/book", params={"lang": "zh-CN"}, data={**form, "name": "韩梅梅"}, headers=ORIGIN
    )

    assert no_name.status_code == 422
    assert "Please enter your name." in no_name.text and 'aria-invalid="true" aria-describedby="name-error"' in no_name.text
    # The language chosen once is remembered (cookie); the answer checker's own messages follow it.
    assert no_answer.status_code == 422 and '<html lang="en">' in no_answer.text and ">required<" in no_answer.text
    assert 'aria-describedby="answers-allergy-error"' in no_answer.text
    assert in_chinese.status_code == 422 and ">此项必填<" in in_chinese.text and "请输入姓名" not in in_chinese.text
    assert await Booking.count() == 0


async def test_a_cross_site_post_is_refused(client: httpx.AsyncClient) -> None:
    _, service_id, _ = await a_branch_with_a_service()
    form = {"start": tomorrow_at(11).isoformat(), "name": "韩梅梅", "phone": "+8613900000001", "answers.allergy": "无"}

    refused = await client.post(f"/portal/services/{service_id}/book", data=form, headers={"Origin": "https://evil.example"})

    assert refused.status_code == 403 and await Booking.count() == 0


async def test_the_manage_page_reschedules_cancels_and_offers_a_calendar_file(client: httpx.AsyncClient) -> None:
    _, service_id, _ = await a_branch_with_a_service()
    form = {"start": tomorrow_at(10).isoformat(), "name": "韩梅梅", "phone": "+8613900000001", "answers.allergy": "无"}
    manage_path = (await client.post(f"/portal/services/{service_id}/book", data=form, headers=ORIGIN)).headers["location"].split("?")[0]

    picker = await client.get(manage_path, params={"day": tomorrow_at(10).date().isoformat(), "lang": "en"})
    moved = await client.post(f"{manage_path}/reschedule", data={"start": tomorrow_at(14).isoformat()}, headers=ORIGIN)
    ics = await client.get(f"{manage_path}/booking.ics")
    cancelled = await client.post(f"{manage_path}/cancel", headers=ORIGIN)
    after = await client.get(cancelled.headers["location"])

    assert "Choose a new time" in picker.text and 'value="' + tomorrow_at(14).astimezone(ZoneInfo("UTC")).isoformat() in picker.text
    assert moved.status_code == 303 and moved.headers["location"].endswith("done=rescheduled")
    assert ics.headers["content-type"].startswith("text/calendar")
    body = ics.content.decode()
    assert "\r\nDTSTART:" + tomorrow_at(14).astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ") + "\r\n" in body
    assert "SUMMARY:精油按摩 · 静安店" in body
    assert public_url() + manage_path in body.replace("\r\n ", "")  # unfolded; the configured address, not the request's
    assert cancelled.status_code == 303 and "Your booking has been cancelled." in after.text  # en, chosen on the picker
    [row] = await Booking.select(Booking.starts_at, Booking.status)
    assert (row["starts_at"], row["status"]) == (tomorrow_at(14), "cancelled")


async def test_the_survey_page_takes_one_rating(client: httpx.AsyncClient) -> None:
    _, service_id, _ = await a_branch_with_a_service(form=False)
    token = await invite(await make_booking(service_id, tomorrow_at(11)))

    missing = await client.post(f"/portal/survey/{token}", data={"comment": "好"}, headers=ORIGIN)
    answered = await client.post(f"/portal/survey/{token}", data={"rating": "5", "comment": "好"}, headers=ORIGIN)
    shown = await client.get(answered.headers["location"])

    assert missing.status_code == 422 and "请选择 1 到 5 星的评分。" in missing.text
    assert answered.status_code == 303 and "感谢您的反馈！" in shown.text
    assert [a["rating"] for a in await SurveyAnswer.select(SurveyAnswer.rating)] == [5]


async def test_an_unreadable_address_is_a_page_in_the_customers_language_not_json(client: httpx.AsyncClient) -> None:
    _, service_id, _ = await a_branch_with_a_service()

    response = await client.get(f"/portal/services/{service_id}/book", params={"start": "not-a-time"},
                                headers={"Accept-Language": "zh-CN"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "该网址无效" in response.text


async def test_the_details_page_tells_its_script_when_a_linked_question_is_asked(client: httpx.AsyncClient) -> None:
    branch = await make_branch("静安店")
    await make_resource(branch.id, name="王芳")
    service = await make_service(branch.id, "精油按摩")
    fields = [
        {"key": "has_allergy", "type": "checkbox", "label": {"zh-CN": "有过敏史"}},
        {"key": "allergy", "type": "text", "label": {"zh-CN": "过敏原"}, "visible_if": {"field": "has_allergy", "op": "eq", "value": True}},
        {"key": "age", "type": "number", "label": {"zh-CN": "年龄"}},
        {"key": "guardian", "type": "text", "label": {"zh-CN": "监护人"}, "visible_if": {"field": "age", "op": "in", "value": [16, 17.0]}},
    ]
    form = msgspec.convert({"target": "service", "name": "问卷", "fields": fields, "service_id": str(service.id)}, FormCreate)
    await form_actions.create_form(form, actor=cli_actor())

    page = await client.get(f"/portal/services/{service.id}/book", params={"start": tomorrow_at(10).isoformat()})

    rules = {key: msgspec.json.decode(rule) for key, rule in re.findall(r'data-key="(\w+)" data-visible-if=\'([^\']+)\'', page.text)}
    assert rules == {
        "allergy": {"field": "has_allergy", "op": "eq", "value": True, "kind": "checkbox", "expected": [True]},
        # Values normalised as the server compares answers (17.0 is the answer 17).
        "guardian": {"field": "age", "op": "in", "value": [16, 17.0], "kind": "number", "expected": [16, 17]},
    }
    assert re.findall(r'data-key="(\w+)"', page.text) == ["has_allergy", "allergy", "age", "guardian"]
    assert "portal/visible-if" in page.text


async def test_the_manage_pages_picker_counts_the_bookings_own_time_as_free_on_any_channel(
    client: httpx.AsyncClient,
) -> None:
    branch = await make_branch("静安店")
    await make_resource(branch.id, name="王芳")  # the only therapist: her 10:00 is this booking's
    service = await make_service(branch.id, "精油按摩", channels=["phone"], slot_step_minutes=30)
    booking_id = await make_booking(service.id, tomorrow_at(10), channel="phone")
    token = "manage-" + booking_id.hex
    await Booking.update({Booking.manage_token_hash: digest(token)}).where(Booking.id == booking_id)
    half_past = tomorrow_at(10) + timedelta(minutes=30)

    picker = await client.get(f"/portal/bookings/{token}", params={"day": half_past.date().isoformat(), "lang": "en"})
    moved = await client.post(f"/portal/bookings/{token}/reschedule", data={"start": half_past.isoformat()}, headers=ORIGIN)

    assert picker.status_code == 200 and "Choose a new time" in picker.text
    assert 'value="' + half_past.astimezone(ZoneInfo("UTC")).isoformat() in picker.text  # overlaps its own hour only
    assert 'value="' + tomorrow_at(10).astimezone(ZoneInfo("UTC")).isoformat() not in picker.text  # where it is now
    assert moved.status_code == 303
    [row] = await Booking.select(Booking.starts_at)
    assert row["starts_at"] == half_past


async def test_moving_a_booking_keeps_the_staff_member_the_customer_chose_unless_they_choose_anyone(
    client: httpx.AsyncClient,
) -> None:
    branch = await make_branch("静安店")
    first, second = sorted([await make_resource(branch.id, name=n) for n in ("王芳", "李娜")], key=lambda r: str(r.id))
    service = await make_service(branch.id, "精油按摩", customer_picks_staff=True)
    form = {"start": tomorrow_at(10).isoformat(), "name": "韩梅梅", "phone": "+8613900000001", "staff": str(second.id)}
    manage_path = (await client.post(f"/portal/services/{service.id}/book", data=form, headers=ORIGIN)).headers["location"].split("?")[0]
    day = tomorrow_at(14).date().isoformat()

    kept = await client.get(manage_path, params={"day": day, "lang": "en"})
    anyone = await client.get(manage_path, params={"day": day, "staff": "any", "lang": "en"})
    staff_inputs = re.findall(r'name="staff" value="([^"]+)"', kept.text)
    moved = await client.post(f"{manage_path}/reschedule", data={"start": tomorrow_at(14).isoformat(), "staff": staff_inputs[0]}, headers=ORIGIN)

    assert staff_inputs and set(staff_inputs) == {str(second.id)}  # the one she chose, not the one the engine tries first
    assert f'aria-current="true">{second.name}' in kept.text
    assert 'name="staff"' not in anyone.text and 'aria-current="true">Anyone' in anyone.text
    assert moved.status_code == 303
    active = await Allocation.select(Allocation.resource).where(Allocation.active == True)  # noqa: E712
    assert [a["resource"] for a in active] == [second.id]
    assert first.id != second.id
