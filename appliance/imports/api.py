"""The imports API: upload a file as a job, follow its progress, download its problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from appliance.auth.api import AnyRequest, actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.errors import Invalid
from appliance.imports import schemas
from appliance.imports.actions import MAX_FILE_BYTES, ImportRequest, start_import
from appliance.imports.queries import get_import, problems_csv

IMPORT = "/{import_id:uuid}"


@dataclass
class ImportUpload:
    """The multipart form: `file` (CSV or XLSX), `kind`, and optionally `dry_run` (true|false), `on_error`
    (abort|skip) and `mapping` (a JSON object: field → the file's column header)."""

    file: UploadFile
    kind: str
    dry_run: str = "false"
    on_error: str = "abort"
    mapping: str | None = None


def _flag(value: str, field: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no", ""):
        raise Invalid({field: "true or false"})
    return lowered in ("true", "1", "yes")


def _mapping(value: str | None) -> dict[str, str] | None:
    if value is None or not value.strip():
        return None
    try:
        return msgspec.json.decode(value, type=dict[str, str])
    except msgspec.DecodeError:  # malformed, or not an object of strings
        raise Invalid({"mapping": 'a JSON object of field → column header, such as {"phone": "联系电话"}'}) from None


class ImportController(Controller):
    path = "/api/v1/imports"
    tags = ["imports"]

    @post(
        "/", opt=requires(Permission.data_import), status_code=HTTP_202_ACCEPTED,
        request_max_body_size=MAX_FILE_BYTES + (1 << 20),
    )
    async def create(
        self, request: AnyRequest, data: Annotated[ImportUpload, Body(media_type=RequestEncodingType.MULTI_PART)]
    ) -> schemas.Import:
        """Import customers or past bookings from a CSV (UTF-8 or GBK) or XLSX file, as a background job:
        202 with the job, whose progress, counts and row problems `GET /api/v1/imports/{id}` tells. A dry
        run only checks. See docs/imports.md."""
        actor = actor_of(request)
        if not isinstance(data.file, UploadFile):
            raise Invalid({"file": "a CSV or XLSX file, sent as multipart/form-data"})
        job_id = await start_import(
            ImportRequest(
                kind=data.kind.strip(), file_name=data.file.filename or "", dry_run=_flag(data.dry_run, "dry_run"),
                on_error=data.on_error.strip(), mapping=_mapping(data.mapping),
            ),
            await data.file.read(), actor=actor,
        )
        return await get_import(job_id, actor=actor)

    @get(IMPORT, opt=requires(Permission.data_import))
    async def show(self, request: AnyRequest, import_id: FromPath[UUID]) -> schemas.Import:
        """The job: status, progress (rows done of the total), counts, the mapping in use, the file's
        problem if it was refused, and the first 100 row problems with a count by code."""
        return await get_import(import_id, actor=actor_of(request))

    @get(f"{IMPORT}/errors.csv", opt=requires(Permission.data_import))
    async def errors(self, request: AnyRequest, import_id: FromPath[UUID]) -> Stream:
        """Every row problem as CSV: row, column, code, message (English), message_zh."""
        lines = await problems_csv(import_id, actor=actor_of(request))
        headers: dict[str, Any] = {
            "Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"', "Cache-Control": "no-store",
        }
        return Stream(lines, media_type="text/csv; charset=utf-8", headers=headers)
