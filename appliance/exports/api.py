"""Full export over HTTP, for the owner: the archive is streamed as it is made, from one snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, post
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.clock import utc_now
from appliance.exports.actions import start_export
from appliance.exports.subject import start_subject_export


class ExportRequest(msgspec.Struct, forbid_unknown_fields=True):
    passphrase: Annotated[str, msgspec.Meta(max_length=1024)] | None = None


class SubjectExportRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)]


def _archive(export_chunks: AsyncIterator[bytes], stem: str, *, sealed: bool) -> Stream:
    name = f"{stem}-{utc_now():%Y%m%dT%H%M%SZ}.zip" + (".sealed" if sealed else "")
    return Stream(
        export_chunks, media_type="application/octet-stream" if sealed else "application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


class ExportController(Controller):
    path = "/api/v1/exports"
    tags = ["exports"]

    @post("/", opt=requires(Permission.data_export), status_code=200)
    async def create(self, request: AnyRequest, data: JSONBody[ExportRequest | None] = None) -> Stream:
        """Everything the appliance holds, as a ZIP archive of JSON Lines and CSV per table with a manifest
        (sealed with `passphrase` when one is given; `appliance import` restores it). Audited."""
        passphrase = data.passphrase if data else None
        export = await start_export(actor=actor_of(request), passphrase=passphrase)
        return _archive(export.chunks(), "appliance-export", sealed=passphrase is not None)


class SubjectExportController(Controller):
    path = "/api/v1/customers/{customer_id:uuid}/export"
    tags = ["exports"]

    @post("/", opt=requires(Permission.customers_export), status_code=200)
    async def create(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[SubjectExportRequest]
    ) -> Stream:
        """Everything held about one customer (a data-subject access request), in the full export's format;
        audited with `reason`, the request it answers."""
        export = await start_subject_export(customer_id, actor=actor_of(request), reason=data.reason)
        return _archive(export.chunks(), f"customer-{customer_id}", sealed=False)
