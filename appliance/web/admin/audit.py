"""The audit log for compliance officers: filtered pages of entries, and exports as bundles that verify."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from litestar import Controller, Response, get, post
from litestar.params import FromPath
from litestar.response import File, Template

from appliance.audit import actions, queries
from appliance.audit.config import audit_config
from appliance.audit.sealing import read_head
from appliance.auth import queries as user_queries
from appliance.auth.actor import ActorKind
from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.clock import utc_now
from appliance.core.errors import AppError, NotFound
from appliance.core.pagination import DEFAULT_LIMIT, decode_instant_cursor, encode_instant_cursor
from appliance.web.admin.form_support import BUSINESS_ZONE
from appliance.web.admin.shell import NO_STORE, admin_page, problem_text
from appliance.web.i18n import N_
from appliance.web.templating import AnyRequest, texts_for

ACTOR_KINDS: tuple[ActorKind, ...] = ("user", "api_token", "system", "plugin", "customer", "anonymous")
RESULTS = ("success", "failure", "denied")
KEEP_BUNDLES_SECONDS = 24 * 3600  # a bundle made here waits this long for its download
FILTER_FIELDS = ("since", "until", "actor", "actor_kind", "action", "target_type", "target_id", "result")


@dataclass(frozen=True)
class AuditFilters:
    """The filter form as typed, and what it means for the query (or the inputs it could not read)."""

    form: dict[str, str]
    query: queries.EntryFilter
    errors: dict[str, str]


def _local_instant(value: str, zone: str) -> datetime:
    """A datetime-local input ("2026-11-26T09:30") read in `zone`; ValueError when it is not one."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        raise ValueError(value)
    return parsed.replace(tzinfo=ZoneInfo(zone))


def read_filters(params: dict[str, str]) -> AuditFilters:
    form = {name: params.get(name, "").strip()[:200] for name in FILTER_FIELDS}
    errors: dict[str, str] = {}
    instants: dict[str, datetime | None] = {"since": None, "until": None}
    for name in instants:
        if form[name]:
            try:
                instants[name] = _local_instant(form[name], BUSINESS_ZONE)
            except ValueError:
                errors[name] = N_("Enter a date and time, e.g. 2026-11-26 09:30.")
    since, until = instants["since"], instants["until"]
    if since and until and until <= since:
        errors["until"] = N_("The end must come after the start.")
    query = queries.EntryFilter(
        since=since, until=until, actor_id=form["actor"] or None,
        actor_kind=form["actor_kind"] if form["actor_kind"] in ACTOR_KINDS else None,
        action=form["action"] or None, target_type=form["target_type"] or None, target_id=form["target_id"] or None,
        result=form["result"] if form["result"] in RESULTS else None,
    )
    return AuditFilters(form=form, query=query, errors=errors)


def _bundles_dir() -> Path:
    return audit_config().work_dir / "admin-audit-exports"


def _forget_old_bundles(folder: Path, now: float) -> None:
    """Bundles nobody fetched within a day go: they hold the whole log's personal data."""
    if not folder.is_dir():
        return
    for made in folder.iterdir():
        if made.is_dir() and now - made.stat().st_mtime > KEEP_BUNDLES_SECONDS:
            shutil.rmtree(made, ignore_errors=True)


class AuditPages(Controller):
    path = "/admin/audit"
    include_in_schema = False

    @get("/", opt=requires(Permission.audit_read))
    async def entries(self, request: AnyRequest) -> Template:
        """Newest first, a page at a time (the cursor as in the API), with the filters kept in the links."""
        actor = actor_of(request)
        filters = read_filters(dict(request.query_params))
        entries: list[Any] = []
        next_cursor: str | None = None
        if not filters.errors:
            after = decode_instant_cursor(request.query_params.get("cursor"))
            entries, last = await queries.list_entries(filters.query, after=after, limit=DEFAULT_LIMIT)
            next_cursor = encode_instant_cursor(last) if last else None
        users: list[Any] = []
        if actor.can(Permission.users_read):
            users, _ = await user_queries.list_users(actor=actor, after=None, limit=200)
        texts = texts_for(request)
        return admin_page(request, "admin/audit/entries.html", {
            "entries": entries, "next_cursor": next_cursor, "form": filters.form,
            "errors": {name: texts.gettext(message) for name, message in filters.errors.items()},
            "users": users, "actor_kinds": ACTOR_KINDS, "results": RESULTS, "zone": BUSINESS_ZONE,
            "filtered": {k: v for k, v in filters.form.items() if v},
        }, section="audit", status=422 if filters.errors else 200)

    @post("/export", opt=requires(Permission.audit_export))
    async def export(self, request: AnyRequest) -> Template:
        """Write a bundle of the entries in the chosen time range (audited as `audit.exported`) and offer
        it for download, with how to check it."""
        form = await request.form()
        filters = read_filters({"since": str(form.get("since", "")), "until": str(form.get("until", ""))})
        texts = texts_for(request)
        context: dict[str, Any] = {"bundle": None, "problem": None, "zone": BUSINESS_ZONE}
        if filters.errors:
            context["problem"] = " ".join(texts.gettext(m) for m in filters.errors.values())
            return admin_page(request, "admin/audit/_export.html", context, section="audit", status=422)
        folder = _bundles_dir()
        _forget_old_bundles(folder, time.time())
        token = uuid4()
        name = actions.export_file_name(await read_head(), utc_now())
        target = folder / str(token) / name
        try:
            done = await actions.export_audit_log(
                target, actor=actor_of(request), since=filters.query.since, until=filters.query.until,
            )
        except AppError as error:
            shutil.rmtree(target.parent, ignore_errors=True)
            context["problem"] = problem_text(texts, error)
            return admin_page(request, "admin/audit/_export.html", context, section="audit", status=error.status)
        except BaseException:
            shutil.rmtree(target.parent, ignore_errors=True)
            raise
        context["bundle"] = {
            "url": f"/admin/audit/bundles/{token}", "name": name, "entries": done.bundle.entries,
            "sha256": done.bundle.sha256, "bytes": done.bundle.size_bytes,
        }
        return admin_page(request, "admin/audit/_export.html", context, section="audit")

    @get("/bundles/{token:uuid}", opt=requires(Permission.audit_export))
    async def bundle(self, token: FromPath[UUID]) -> Response[Any]:
        """A bundle made by `export` above (anyone allowed to export may fetch it by its random token)."""
        made = _bundles_dir() / str(token)
        files = sorted(made.glob("*.zip")) if made.is_dir() else []
        if not files:
            raise NotFound("no such audit bundle")
        return File(path=files[0], filename=files[0].name, media_type="application/zip", headers=dict(NO_STORE))
