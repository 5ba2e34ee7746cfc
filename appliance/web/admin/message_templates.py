"""Notification templates: the list by key, channel and language, and an editor whose preview renders the
draft with sample booking values as it is typed (the sandboxed rendering a save checks with)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.errors import AppError, Invalid
from appliance.notifications import editing, queries, schemas
from appliance.notifications.catalogue import sample_variables
from appliance.notifications.templates import Template as MessageTemplate
from appliance.notifications.templates import TemplateProblem, render
from appliance.web.admin.shell import admin_page, field_messages, go_to, problem_text
from appliance.web.templating import AnyRequest, texts_for

TEMPLATE = "/{key:str}/{channel:str}/{locale:str}"
LONGEST = 20_000  # what a draft preview reads of a posted field (the save checks the real limits)


def _path(key: str, channel: str, locale: str) -> str:
    return f"/admin/automation/templates/{key}/{channel}/{locale}"


async def _draft(request: AnyRequest) -> schemas.TemplateBody:
    form = await request.form()
    return schemas.TemplateBody(subject=str(form.get("subject", ""))[:LONGEST], body=str(form.get("body", ""))[:LONGEST])


class TemplatePages(Controller):
    path = "/admin/automation/templates"
    include_in_schema = False

    @get("/", opt=requires(Permission.automation_read))
    async def templates(self, request: AnyRequest) -> Template:
        return admin_page(request, "admin/automation/templates.html", {
            "templates": await queries.list_templates(), "path": _path,
        }, section="automation")

    async def _editor(self, request: AnyRequest, found: schemas.NotificationTemplate, draft: schemas.TemplateBody,
                      *, errors: dict[str, str] | None = None, problem: str | None = None, status: int = 200,
                      fragment: bool = False) -> Template:
        context = {
            "template": found, "draft": draft, "errors": errors or {}, "problem": problem,
            "path": _path(found.key, found.channel, found.locale), "preview": self._preview(found.key, draft),
        }
        name = "admin/automation/_template_form.html" if fragment else "admin/automation/template.html"
        return admin_page(request, name, context, section="automation", status=status)

    def _preview(self, key: str, draft: schemas.TemplateBody) -> dict[str, str]:
        try:
            rendered = render(MessageTemplate(draft.subject, draft.body), sample_variables(key))
        except TemplateProblem as problem:
            return {"problem": str(problem), "subject": "", "body": ""}
        return {"problem": "", "subject": rendered.subject, "body": rendered.body}

    @get(TEMPLATE, opt=requires(Permission.automation_read))
    async def template(self, request: AnyRequest, key: FromPath[str], channel: FromPath[str], locale: FromPath[str]) -> Template:
        found = await queries.get_template(key, channel, locale)
        return await self._editor(request, found, schemas.TemplateBody(subject=found.subject, body=found.body))

    @post(f"{TEMPLATE}/preview", opt=requires(Permission.automation_read))
    async def preview(self, request: AnyRequest, key: FromPath[str], channel: FromPath[str], locale: FromPath[str]) -> Template:
        """The draft rendered with sample values, as typed (htmx posts it half a second after a key)."""
        found = await queries.get_template(key, channel, locale)
        return admin_page(request, "admin/automation/_template_preview.html", {
            "preview": self._preview(found.key, await _draft(request)), "template": found,
        }, section="automation")

    @post(TEMPLATE, opt=requires(Permission.automation_write))
    async def save(self, request: AnyRequest, key: FromPath[str], channel: FromPath[str], locale: FromPath[str]) -> Response[Any]:
        found = await queries.get_template(key, channel, locale)
        draft = await _draft(request)
        try:
            await editing.save_template(key, channel, locale, draft, actor=actor_of(request))
        except Invalid as error:
            return await self._editor(request, found, draft, errors=field_messages(error), status=422, fragment=True)
        except AppError as error:
            return await self._editor(request, found, draft, problem=problem_text(texts_for(request), error),
                                      status=error.status, fragment=True)
        return go_to(request, _path(key, channel, locale))

    @post(f"{TEMPLATE}/reset", opt=requires(Permission.automation_write))
    async def reset(self, request: AnyRequest, key: FromPath[str], channel: FromPath[str], locale: FromPath[str]) -> Response[Any]:
        await editing.reset_template(key, channel, locale, actor=actor_of(request))
        return go_to(request, _path(key, channel, locale))
