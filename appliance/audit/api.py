"""The compliance officer's API: the audit log filtered page by page, its latest checkpoint, and exports
as verifiable bundles. Held by `compliance_officer` and `owner` (audit.read, audit.export)."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from litestar import Controller, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromQuery, JSONBody
from litestar.response import File
from litestar.status_codes import HTTP_201_CREATED

from appliance.audit import actions, queries, schemas
from appliance.audit.config import audit_config
from appliance.audit.sealing import latest_checkpoint, read_head
from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.clock import utc_now
from appliance.core.errors import NotFound
from appliance.core.pagination import (
    DEFAULT_LIMIT, Page, aware_instant, check_limit, decode_instant_cursor, encode_instant_cursor,
)


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("/", opt=requires(Permission.audit_read))
    async def list_entries(
        self, since: FromQuery[datetime | None] = None, until: FromQuery[datetime | None] = None,
        actor: FromQuery[str | None] = None, actor_kind: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None, target_type: FromQuery[str | None] = None,
        target_id: FromQuery[str | None] = None, result: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None, limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[schemas.AuditEntry]:
        """Newest first. `since` (inclusive) and `until` (exclusive) need a UTC offset; `actor` is the
        actor's id (a user id, or a token's); `action` is exact or a prefix ending in `*` (`booking.*`)."""
        filters = queries.EntryFilter(
            since=aware_instant("since", since), until=aware_instant("until", until), actor_id=actor,
            actor_kind=actor_kind, action=action, target_type=target_type, target_id=target_id, result=result,
        )
        items, last = await queries.list_entries(filters, after=decode_instant_cursor(cursor), limit=check_limit(limit))
        return Page(items=items, next_cursor=encode_instant_cursor(last) if last else None)

    @get("/checkpoint", opt=requires(Permission.audit_read), media_type="text/plain; charset=utf-8")
    async def latest(self) -> str:
        """The latest signed checkpoint (a C2SP signed note): keep copies outside the appliance, and give
        one to `appliance audit verify --checkpoint` later."""
        checkpoint = await latest_checkpoint()
        if checkpoint is None:
            raise NotFound("no checkpoint has been signed yet")
        return checkpoint.note

    @post("/exports", opt=requires(Permission.audit_export), status_code=HTTP_201_CREATED)
    async def export(self, request: AnyRequest, data: JSONBody[schemas.ExportRequest]) -> File:
        """A bundle (zip) of the entries from `since` to `until`: JSON Lines and CSV, the signed checkpoints,
        the public key, and a signed manifest with the SHA-256 of every file. Audited as `audit.exported`."""
        config = audit_config()
        target = config.work_dir / "exports" / f"{uuid4()}.zip"
        try:
            done = await actions.export_audit_log(
                target, actor=actor_of(request), since=aware_instant("since", data.since),
                until=aware_instant("until", data.until),
            )
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        name = actions.export_file_name(await read_head(), utc_now())
        return File(
            path=target, filename=name, media_type="application/zip", status_code=HTTP_201_CREATED,
            headers={
                "X-Audit-Export-Id": done.id, "X-Audit-Bundle-SHA256": done.bundle.sha256,
                "X-Audit-Entries": str(done.bundle.entries), "Cache-Control": "no-store",
            },
            background=BackgroundTask(target.unlink, missing_ok=True),
        )
