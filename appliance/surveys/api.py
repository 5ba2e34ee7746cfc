"""The survey page's API: public, rate-limited, reached by the link in the invitation message."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import PUBLIC
from appliance.surveys import actions, schemas


class SurveyController(Controller):
    path = "/api/v1/portal/surveys"
    tags = ["portal"]
    opt = {**PUBLIC, "rate_limited": "portal"}

    @get("/{token:str}")
    async def view(self, token: FromPath[str]) -> schemas.Survey:
        """The booking the survey is about, and the answer if given."""
        return await actions.survey(token)

    @post("/{token:str}", status_code=HTTP_201_CREATED)
    async def answer(self, request: AnyRequest, token: FromPath[str], data: JSONBody[schemas.SurveyAnswerCreate]) -> schemas.Survey:
        """1–5 stars and an optional comment, once per booking."""
        actor = actor_of(request)
        return await actions.answer_survey(token, data, ip=actor.ip, request_id=actor.request_id)
