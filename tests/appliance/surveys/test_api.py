"""The survey link: view, answer once, clear errors, audited as the customer — on both engines."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from appliance.audit.tables import AuditEntry
from appliance.surveys.actions import invite
from appliance.surveys.tables import SurveyAnswer, SurveyInvitation
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def booked() -> str:
    branch = await make_branch("静安店")
    await make_resource(branch.id)
    service = await make_service(branch.id, "精油按摩")
    day = datetime.now(SHANGHAI).date() + timedelta(days=2)
    return await invite(await make_booking(service.id, datetime(day.year, day.month, day.day, 11, 0, tzinfo=SHANGHAI)))


async def test_a_customer_answers_once_through_the_link(client: httpx.AsyncClient) -> None:
    token = await booked()
    path = f"/api/v1/portal/surveys/{token}"

    before = (await client.get(path)).json()
    answered = await client.post(path, json={"rating": 5, "comment": "手法很专业"})
    again = await client.post(path, json={"rating": 1})

    assert (before["service_name"], before["branch_name"], before["answered"]) == ("精油按摩", "静安店", False)
    assert answered.status_code == 201, answered.text
    assert (answered.json()["answered"], answered.json()["rating"], answered.json()["comment"]) == (True, 5, "手法很专业")
    assert again.status_code == 409 and again.json()["code"] == "already_answered"
    assert [a["rating"] for a in await SurveyAnswer.select(SurveyAnswer.rating)] == [5]
    [entry] = await AuditEntry.select(AuditEntry.actor_kind, AuditEntry.auth_method).where(
        AuditEntry.action == "survey.answered"
    )
    assert entry == {"actor_kind": "customer", "auth_method": "survey_link"}


async def test_bad_answers_unknown_and_expired_links_are_clear_errors(client: httpx.AsyncClient) -> None:
    token = await booked()
    path = f"/api/v1/portal/surveys/{token}"

    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "five"}, {"rating": 3, "comment": "x" * 2001}, {}):
        response = await client.post(path, json=bad)
        assert response.status_code in (400, 422), (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/portal/surveys/not-a-real-token")).status_code == 404

    await SurveyInvitation.update({SurveyInvitation.expires_at: datetime.now(SHANGHAI) - timedelta(seconds=1)}).where(
        SurveyInvitation.id.is_not_null()
    )
    closed = await client.post(path, json={"rating": 4})
    assert closed.status_code == 409 and closed.json()["code"] == "survey_closed"
    assert await SurveyAnswer.count() == 0
