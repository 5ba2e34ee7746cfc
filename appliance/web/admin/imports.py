"""The import wizard: upload a CSV or XLSX, check the column mapping (guessed, editable), a dry run that
lists the row problems, then the import as a background job whose progress the page polls, and the
problems as errors.csv — all through the imports package's actions and queries."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Stream, Template

from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.errors import AppError
from appliance.imports import logic
from appliance.imports.actions import MAX_FILE_BYTES, ImportRequest, start_import
from appliance.imports.queries import get_import, problems_csv
from appliance.imports.reading import FileProblem, headers_of
from appliance.imports.schemas import Import
from appliance.web.admin.shell import admin_page, field_messages, is_htmx, problem_text
from appliance.web.i18n import N_
from appliance.web.templating import AnyRequest, texts_for

UPLOAD_LIMIT = MAX_FILE_BYTES + (1 << 20)  # the file and the form around it
FIELD_LABELS = {
    "name": N_("Name"), "phone": N_("Phone"), "email": N_("Email"), "gender": N_("Gender"),
    "birthday": N_("Birthday"), "source_channel": N_("Source"), "tags": N_("Tags"), "tier": N_("Membership tier"),
    "points": N_("Points"), "note": N_("Note"), "service": N_("Service"), "branch": N_("Branch"),
    "staff": N_("Staff member"), "starts_at": N_("Start"), "ends_at": N_("End"), "status": N_("Status"),
    "amount": N_("Amount"), "payment_status": N_("Payment status"),
}


def _file_problem_text(request: AnyRequest, problem: FileProblem) -> str:
    return logic.message(problem.code, problem.params, "zh" if texts_for(request).locale == "zh-CN" else "en")


async def _upload(request: AnyRequest) -> tuple[dict[str, str], UploadFile | None]:
    form = await request.form()
    upload = form.get("file")
    return {k: str(v) for k, v in form.items() if k != "file"}, upload if isinstance(upload, UploadFile) else None


class ImportPages(Controller):
    path = "/admin/import"
    include_in_schema = False

    @get("/", opt=requires(Permission.data_import))
    async def wizard(self, request: AnyRequest) -> Template:
        return admin_page(request, "admin/import/wizard.html", {"kinds": logic.KINDS}, section="import")

    @post("/columns", opt=requires(Permission.data_import), request_max_body_size=UPLOAD_LIMIT)
    async def columns(self, request: AnyRequest) -> Template:
        """Step 2: the file's columns and the guessed mapping, to check and change before the dry run."""
        form, upload = await _upload(request)
        kind = next((k for k in logic.KINDS if k == form.get("kind")), None)
        context: dict[str, Any] = {"problem": None, "headers": [], "mapping": {}, "fields": [], "labels": FIELD_LABELS,
                                   "required": set()}
        if kind is None or upload is None:
            context["problem"] = texts_for(request).gettext(N_("Choose what to import and a CSV or XLSX file."))
            return admin_page(request, "admin/import/_mapping.html", context, section="import", status=422)
        try:
            headers = headers_of(await upload.read())
        except FileProblem as problem:
            context["problem"] = _file_problem_text(request, problem)
            return admin_page(request, "admin/import/_mapping.html", context, section="import", status=422)
        context |= {
            "headers": headers, "mapping": logic.guess_mapping(kind, headers), "fields": logic.FIELDS[kind],
            "required": {name for group in logic.REQUIRED[kind] for name in group},
        }
        return admin_page(request, "admin/import/_mapping.html", context, section="import")

    @post("/jobs", opt=requires(Permission.data_import), request_max_body_size=UPLOAD_LIMIT)
    async def start(self, request: AnyRequest) -> Template:
        """Step 3: a dry run (`dry_run=true`) or the import itself, as a background job."""
        form, upload = await _upload(request)
        mapping = {k.removeprefix("map-"): v for k, v in form.items() if k.startswith("map-") and v.strip()}
        texts = texts_for(request)
        if upload is None:
            return self._refused(request, texts.gettext(N_("Choose a CSV or XLSX file.")), 422)
        try:
            job_id = await start_import(ImportRequest(
                kind=form.get("kind", ""), file_name=upload.filename or "", dry_run=form.get("dry_run") == "true",
                on_error=form.get("on_error", "abort"), mapping=mapping or None,
            ), await upload.read(), actor=actor_of(request))
        except AppError as error:
            messages = field_messages(error)
            text = "; ".join(f"{k}: {v}" for k, v in messages.items()) if messages else problem_text(texts, error)
            return self._refused(request, text, error.status)
        return await self._job(request, await get_import(job_id, actor=actor_of(request)))

    def _refused(self, request: AnyRequest, problem: str, status: int) -> Template:
        return admin_page(request, "admin/import/_job.html", {"job": None, "problem": problem}, section="import",
                          status=status)

    async def _job(self, request: AnyRequest, job: Import) -> Template:
        return admin_page(request, "admin/import/_job.html", {"job": job, "problem": None, "labels": FIELD_LABELS},
                          section="import")

    @get("/jobs/{job_id:uuid}", opt=requires(Permission.data_import))
    async def job(self, request: AnyRequest, job_id: FromPath[UUID]) -> Template:
        """The job's state: the fragment the wizard polls every second while it runs, or a page of its own."""
        job = await get_import(job_id, actor=actor_of(request))
        if is_htmx(request):
            return await self._job(request, job)
        return admin_page(request, "admin/import/job.html", {"job": job, "problem": None, "labels": FIELD_LABELS},
                          section="import")

    @get("/jobs/{job_id:uuid}/errors.csv", opt=requires(Permission.data_import))
    async def errors(self, request: AnyRequest, job_id: FromPath[UUID]) -> Response[Any]:
        lines = await problems_csv(job_id, actor=actor_of(request))
        return Stream(lines, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="import-{job_id}-errors.csv"', "Cache-Control": "no-store",
        })
