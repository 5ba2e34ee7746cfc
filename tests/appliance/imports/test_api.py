"""The imports API through HTTP with the embedded worker running the job: upload, progress, errors.csv,
and who may."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx

from appliance.auth.roles import Role
from appliance.customers.tables import Customer
from appliance.testing.builders import make_branch, make_user, sign_in
from tests.appliance.imports.support import csv_bytes

ROWS = [["姓名", "手机号"], ["张伟", "13800138000"], ["李娜", "12345"], ["王芳", "13700137000"]]


async def _signed_in(client: httpx.AsyncClient, role: Role = Role.manager) -> dict[str, str]:
    branch = await make_branch()
    await make_user(f"import.{role.value}", role, branch_id=branch.id)
    me = await sign_in(client, f"import.{role.value}")
    return {"X-CSRF-Token": me["csrf_token"]}


async def _upload(client: httpx.AsyncClient, headers: dict[str, str], content: bytes, **form: str) -> httpx.Response:
    return await client.post(
        "/api/v1/imports", headers=headers, files={"file": ("客户.csv", content, "text/csv")},
        data={"kind": "customers", **form},
    )


def _fields(response: httpx.Response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


async def _finished(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    for _ in range(400):
        job: dict[str, Any] = (await client.get(f"/api/v1/imports/{job_id}")).json()
        if job["status"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the import is still {job['status']}")


async def test_a_manager_imports_follows_progress_and_downloads_the_problems(client: httpx.AsyncClient) -> None:
    headers = await _signed_in(client)

    response = await _upload(client, headers, csv_bytes(ROWS), on_error="skip")

    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("queued", "running", "done")
    job = await _finished(client, response.json()["id"])
    assert job["status"] == "done"
    assert job["progress"] == {"phase": "", "rows_done": 2, "rows_total": 3}
    assert (job["counts"]["created"], job["counts"]["invalid"]) == (2, 1)
    assert job["problems_by_code"] == {"invalid_phone": 1}
    assert await Customer.count() == 2
    errors = await client.get(f"/api/v1/imports/{job['id']}/errors.csv")
    assert errors.status_code == 200 and errors.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert lines == [
        ["row", "column", "code", "message", "message_zh"], ["3", "手机号", "invalid_phone", "not a valid phone number", "不是有效的电话号码"],
    ]


async def test_a_dry_run_through_the_api_writes_nothing(client: httpx.AsyncClient) -> None:
    headers = await _signed_in(client)

    job = await _finished(client, (await _upload(client, headers, csv_bytes(ROWS), dry_run="true")).json()["id"])

    assert (job["dry_run"], job["counts"]["valid"], job["counts"]["invalid"]) == (True, 2, 1)
    assert await Customer.count() == 0


async def test_bad_requests_are_422_naming_the_field(client: httpx.AsyncClient) -> None:
    headers = await _signed_in(client)

    wrong_kind = await _upload(client, headers, csv_bytes(ROWS), kind="orders")
    bad_mapping = await _upload(client, headers, csv_bytes(ROWS), mapping='{"shoe_size": "姓名"}')
    not_json = await _upload(client, headers, csv_bytes(ROWS), mapping="phone=手机号")
    empty = await _upload(client, headers, b"")

    assert (wrong_kind.status_code, _fields(wrong_kind)) == (422, {"kind"})
    assert (bad_mapping.status_code, _fields(bad_mapping)) == (422, {"mapping.shoe_size"})
    assert (not_json.status_code, _fields(not_json)) == (422, {"mapping"})
    assert (empty.status_code, _fields(empty)) == (422, {"file"})


async def test_front_desk_may_not_import_and_others_jobs_are_hidden_from_branch_managers(client: httpx.AsyncClient) -> None:
    owner_headers = await _signed_in(client, Role.owner)
    job = (await _upload(client, owner_headers, csv_bytes(ROWS), dry_run="true")).json()
    await _finished(client, job["id"])
    client.cookies.clear()

    branch = await make_branch("徐汇店")
    await make_user("import.desk", Role.front_desk, branch_id=branch.id)
    desk = await sign_in(client, "import.desk")
    refused = await _upload(client, {"X-CSRF-Token": desk["csrf_token"]}, csv_bytes(ROWS))
    assert refused.status_code == 403
    client.cookies.clear()

    await make_user("import.manager2", Role.manager, branch_id=branch.id)
    await sign_in(client, "import.manager2")
    assert (await client.get(f"/api/v1/imports/{job['id']}")).status_code == 404
    assert (await client.get(f"/api/v1/imports/{job['id']}/errors.csv")).status_code == 404


async def test_a_file_in_a_wrong_encoding_fails_its_job_with_the_reason_and_writes_nothing(client: httpx.AsyncClient) -> None:
    headers = await _signed_in(client)
    utf16 = "\n".join(",".join(row) for row in ROWS).encode("utf-16")  # Excel's "Unicode text"

    response = await _upload(client, headers, utf16)

    assert response.status_code == 202, response.text  # the worker reads the file, not the upload
    job = await _finished(client, response.json()["id"])
    assert (job["status"], job["counts"]["rows"], job["problems"]) == ("failed", 0, [])
    assert job["file_problem"] == {
        "code": "unreadable_encoding", "message": "the file is neither UTF-8 nor GBK text; save it as CSV UTF-8",
        "message_zh": "文件既不是 UTF-8 也不是 GBK 编码，请另存为 CSV UTF-8",
    }
    assert await Customer.count() == 0
