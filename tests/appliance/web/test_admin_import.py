"""The import wizard on both engines: the columns of an upload and the guessed mapping, a dry run that
lists a bad row and writes nothing, the import itself followed to its end, errors.csv; front desk refused."""

from __future__ import annotations

import asyncio
import re

import httpx

from appliance.auth.roles import Role
from appliance.customers.tables import Customer
from tests.appliance.imports.support import csv_bytes
from tests.appliance.web.ops_support import staff

ROWS = [["客户姓名", "联系电话", "备注"], ["张伟", "13800138000", ""], ["李娜", "not a phone", ""], ["王芳", "13900139000", "老客户"]]


def upload(**form: str) -> dict[str, object]:
    return {"files": {"file": ("客户.csv", csv_bytes(ROWS), "text/csv")}, "data": {"kind": "customers", **form}}


async def finished(client: httpx.AsyncClient, html: str) -> str:
    """Poll the job's fragment as the page does (every 1 s there) until it stops asking."""
    for _ in range(400):
        if 'hx-trigger="every 1s"' not in html:
            return html
        job = re.search(r'hx-get="(/admin/import/jobs/[0-9a-f-]+)"', html)
        assert job is not None
        await asyncio.sleep(0.05)
        html = (await client.get(job.group(1), headers={"HX-Request": "true"})).text
    raise AssertionError("the import did not finish")


async def test_the_columns_of_the_file_come_with_the_guessed_mapping(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.owner)

    columns = await client.post("/admin/import/columns?lang=en", headers=headers, **upload())  # type: ignore[arg-type]

    assert columns.status_code == 200
    assert re.search(r'<select id="map-phone" name="map-phone">.*?<option value="联系电话" selected>', columns.text, re.S)
    assert re.search(r'<select id="map-name" name="map-name">.*?<option value="客户姓名" selected>', columns.text, re.S)
    assert 'name="dry_run" value="true"' in columns.text


async def test_a_file_that_is_no_table_is_said_at_once(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.owner)

    refused = await client.post("/admin/import/columns?lang=en", headers=headers, data={"kind": "customers"},
                                files={"file": ("empty.csv", b"\n", "text/csv")})

    assert refused.status_code == 422 and "the file has no header row" in refused.text


async def test_a_dry_run_lists_the_bad_row_and_writes_nothing_then_the_import_writes_the_good_rows(
    client: httpx.AsyncClient,
) -> None:
    headers = await staff(client, "mgr", Role.owner)

    started = await client.post("/admin/import/jobs?lang=en", headers=headers, **upload(dry_run="true", on_error="skip"))  # type: ignore[arg-type]
    assert started.status_code == 200, started.text
    checked = await finished(client, started.text)

    assert re.search(r'<tr class="row-problem"><td>3</td><td>联系电话</td><td>not a valid phone number</td></tr>', checked)
    assert await Customer.count() == 0
    errors = re.search(r'href="(/admin/import/jobs/[0-9a-f-]+/errors.csv)"', checked)
    assert errors is not None
    csv_file = await client.get(errors.group(1))
    assert csv_file.status_code == 200 and "invalid_phone" in csv_file.text

    # as the page posts it: the mapping of every select (given whole, it replaces the guess)
    imported = await client.post("/admin/import/jobs?lang=en", headers=headers, **upload(  # type: ignore[arg-type]
        dry_run="false", on_error="skip", **{"map-name": "客户姓名", "map-phone": "联系电话", "map-note": "备注"}))
    done = await finished(client, imported.text)
    assert "Finished." in done
    assert await Customer.count() == 2


async def test_front_desk_may_not_import(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "front", Role.front_desk)

    assert (await client.get("/admin/import")).status_code == 403
    assert (await client.post("/admin/import/jobs", headers=headers, **upload(dry_run="false"))).status_code == 403  # type: ignore[arg-type]
    assert await Customer.count() == 0
