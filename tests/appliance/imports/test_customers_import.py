"""Importing customers, on both engines: dry run, encodings, XLSX, the merge policy, idempotence, audit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.core.clock import utc_now
from appliance.imports.actions import STALE, ImportRequest, resume_imports, run_import, start_import
from appliance.imports.tables import ImportFileChunk, ImportJob
from appliance.customers.actions import match_or_create_customer, update_customer
from appliance.customers.merge import merge_customers
from appliance.customers.queries import find_customer_ids
from appliance.customers.schemas import CustomerContact, CustomerUpdate
from appliance.customers.sealing import opened_customer, opened_note
from appliance.customers.tables import Customer, CustomerNote, CustomerTag, PointsEntry
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service
from tests.appliance.imports.support import csv_bytes, imported, xlsx_bytes

HEADERS = ["姓名", "手机号", "邮箱", "性别", "生日", "来源", "标签", "会员等级", "积分", "备注"]
GOOD = [
    ["张伟", "13800138000", "zw@example.com", "男", "1990-03-05", "大众点评", "VIP,敏感肌", "金卡会员", "1200", "怕痛"],
    ["李娜", "13900139000", "", "女", "", "", "", "", "", ""],
]


async def _customers() -> dict[str, dict[str, object]]:
    """Every customer by phone, personal fields opened (they are sealed in the database)."""
    opened = [opened_customer(r) for r in await Customer.select()]
    return {r["phone"]: r for r in opened}


async def test_a_dry_run_reports_every_problem_and_writes_nothing(database: str) -> None:
    content = csv_bytes([HEADERS, *GOOD, ["", "12345", "bad", "", "", "", "", "", "", ""], ["王芳", "13800138000", "", "", "", "", "", "", "", ""]])

    job = await imported(content, dry_run=True)

    assert job.status == "done"
    assert (job.counts.rows, job.counts.valid, job.counts.invalid, job.counts.duplicates) == (4, 2, 1, 1)
    assert [(p.row, p.column, p.code) for p in job.problems] == [
        (4, "姓名", "required"), (4, "手机号", "invalid_phone"), (4, "邮箱", "invalid_email"),
        (5, "手机号", "duplicate_in_file"),
    ]
    assert job.problems[3].message == "the same phone as row 2; this row is skipped"
    assert job.problems[3].message_zh == "与第 2 行的手机号相同，本行跳过"
    assert job.mapping["phone"] == "手机号" and job.guessed
    assert (job.progress.rows_done, job.progress.rows_total) == (4, 4)
    assert await Customer.count() == 0
    assert await ImportFileChunk.count() == 0  # the file is not kept


async def test_by_default_an_invalid_row_stops_the_whole_file_and_skip_imports_the_rest(database: str) -> None:
    content = csv_bytes([HEADERS, *GOOD, ["", "12345", "", "", "", "", "", "", "", ""]])

    refused = await imported(content)
    assert refused.status == "failed"
    assert refused.file_problem is not None and refused.file_problem.code == "rows_invalid"
    assert await Customer.count() == 0

    done = await imported(content, on_error="skip")
    assert done.status == "done"
    assert (done.counts.created, done.counts.invalid) == (2, 1)
    customers = await _customers()
    zhang = customers["+8613800138000"]
    assert (zhang["name"], zhang["email"], zhang["gender"], zhang["birthday"], zhang["source_channel"]) == (
        "张伟", "zw@example.com", "male", date(1990, 3, 5), "大众点评",
    )
    assert (zhang["tier"], zhang["tier_override"]) == ("gold", "gold")
    assert await find_customer_ids(phone_last4="8000") == [zhang["id"]]  # the front desk's 尾号 search
    assert sorted(t["tag"] for t in await CustomerTag.select().where(CustomerTag.customer == zhang["id"])) == ["vip", "敏感肌"]
    points = await PointsEntry.select().where(PointsEntry.customer == zhang["id"])
    assert [(p["points"], p["remaining"], p["key"]) for p in points] == [(1200, 1200, f"import:{zhang['id']}")]
    assert [opened_note(n)["body"] for n in await CustomerNote.select().where(CustomerNote.customer == zhang["id"])] == ["怕痛"]


async def test_a_gbk_file_reads_as_well_as_utf8(database: str) -> None:
    job = await imported(csv_bytes([HEADERS, *GOOD], encoding="gbk"))

    assert (job.status, job.encoding, job.counts.created) == ("done", "gbk", 2)
    assert sorted(str(c["name"]) for c in (await _customers()).values()) == ["张伟", "李娜"]


async def test_an_xlsx_file_with_english_headers_numbers_and_dates(database: str) -> None:
    rows: list[list[object]] = [
        ["Name", "Mobile", "Birthday", "Points", "Remarks"],
        ["Wang Fang", 13700137000, date(1988, 12, 1), 50, "=1+1"],
        ["Liu Yang", 13600136000, date(1992, 1, 2), 0, ""],
    ]

    job = await imported(xlsx_bytes(rows), file_name="customers.xlsx", on_error="skip")

    assert (job.status, job.file_format, job.counts.created, job.counts.invalid) == ("done", "xlsx", 1, 1)
    assert [(p.row, p.column, p.code) for p in job.problems] == [(2, "Remarks", "formula")]
    liu = (await _customers())["+8613600136000"]
    assert (liu["name"], liu["birthday"]) == ("Liu Yang", date(1992, 1, 2))


async def test_an_explicit_mapping_overrides_the_guess(database: str) -> None:
    content = csv_bytes([["客户", "Tel", "Mail"], ["张伟", "13800138000", "zw@example.com"]])

    job = await imported(content, mapping={"name": "客户", "phone": "Tel"})

    assert (job.status, job.guessed, job.mapping) == ("done", False, {"name": "客户", "phone": "Tel"})
    assert (await _customers())["+8613800138000"]["email"] is None


async def test_a_file_without_the_needed_columns_is_refused_as_a_whole(database: str) -> None:
    job = await imported(csv_bytes([["Foo", "Bar"], ["1", "2"]]))

    assert job.status == "failed"
    assert job.file_problem is not None and job.file_problem.code == "missing_columns"
    assert "name" in job.file_problem.message and "缺少" in job.file_problem.message_zh


async def test_existing_customers_get_blanks_filled_and_tags_added_never_overwritten(database: str) -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    service = await make_service(branch.id)
    tomorrow_10am = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0) + timedelta(days=2)
    await make_booking(service.id, tomorrow_10am, name="张大伟", phone="+8613800138000")
    before = (await _customers())["+8613800138000"]

    job = await imported(csv_bytes([HEADERS, *GOOD]))

    assert (job.counts.created, job.counts.updated, job.counts.unchanged) == (1, 1, 0)
    after = (await _customers())["+8613800138000"]
    assert after["id"] == before["id"]
    assert after["name"] == "张大伟"  # what staff have is kept
    assert (after["email"], after["gender"], after["birthday"]) == ("zw@example.com", "male", date(1990, 3, 5))  # blanks filled
    assert after["source_channel"] == "web"  # where they first came from stays
    assert after["tier_override"] is None  # tiers and points of existing customers are left alone
    assert await PointsEntry.count().where(PointsEntry.customer == after["id"]) == 0


async def test_importing_the_same_file_again_changes_nothing(database: str) -> None:
    content = csv_bytes([HEADERS, *GOOD])
    await imported(content)
    snapshot = sorted((await Customer.select()), key=lambda r: str(r["id"]))
    tags, notes, points = await CustomerTag.count(), await CustomerNote.count(), await PointsEntry.count()

    again = await imported(content)

    assert (again.status, again.counts.created, again.counts.updated, again.counts.unchanged) == ("done", 0, 0, 2)
    assert sorted((await Customer.select()), key=lambda r: str(r["id"])) == snapshot
    assert (await CustomerTag.count(), await CustomerNote.count(), await PointsEntry.count()) == (tags, notes, points)


async def test_each_import_is_audited_once_with_counts_and_no_personal_value(database: str) -> None:
    job = await imported(csv_bytes([HEADERS, *GOOD]))

    entries = await AuditEntry.select().where(AuditEntry.target_type == "import")
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == "import.completed" and entry["target_id"] == str(job.id)
    text = str(entry)
    assert all(value not in text for value in ("张伟", "13800138000", "zw@example.com", "怕痛"))
    assert '"created": 2' in text or "'created': 2" in text


async def test_a_job_whose_worker_died_is_resumed_and_finishes_once(database: str) -> None:
    job_id = await start_import(ImportRequest("customers", "c.csv"), csv_bytes([HEADERS, *GOOD]), actor=cli_actor())
    now = utc_now()
    await ImportJob.update({ImportJob.status: "running", ImportJob.heartbeat_at: now}).where(ImportJob.id == job_id)
    assert not await run_import(job_id)  # a live worker has it
    assert await resume_imports(now + timedelta(seconds=5)) == 0

    await ImportJob.update({ImportJob.heartbeat_at: now - STALE - timedelta(seconds=1)}).where(ImportJob.id == job_id)
    assert await resume_imports(now) == 1
    assert await run_import(job_id)
    assert not await run_import(job_id)  # finished: a second message does nothing

    job = await ImportJob.select(ImportJob.status, ImportJob.attempts).where(ImportJob.id == job_id).first()
    assert job == {"status": "done", "attempts": 1}
    assert await Customer.count() == 2


async def test_a_row_of_a_merged_duplicate_updates_the_survivor_and_never_the_merged_one(database: str) -> None:
    contact = lambda name, phone, email=None: CustomerContact(name=name, phone=phone, email=email)  # noqa: E731
    survivor = await match_or_create_customer(contact("张伟", "+8613800138000"), channel="web", actor=cli_actor())
    by_phone = await match_or_create_customer(contact("张伟 (2)", "+8613800138001"), channel="web", actor=cli_actor())
    by_email = await match_or_create_customer(contact("张伟 (3)", "+8613800138002", "zw3@example.com"), channel="web", actor=cli_actor())
    for duplicate in (by_phone, by_email):
        await merge_customers(survivor, duplicate, actor=cli_actor())
    merged_rows = await Customer.select().where(Customer.id.is_in([by_phone, by_email])).order_by(Customer.id)
    count = await Customer.count()
    rows = [
        HEADERS,
        ["张伟", "13800138001", "", "女", "", "", "导入", "", "", ""],  # the phone of one merged away
        ["张伟", "", "zw3@example.com", "", "1990-03-05", "", "", "", "", ""],  # the email of another
    ]

    job = await imported(csv_bytes(rows))

    assert (job.status, job.counts.created, job.counts.updated) == ("done", 0, 1)
    assert await Customer.count() == count
    kept = opened_customer(await Customer.select().where(Customer.id == survivor).first() or {})
    assert (kept["phone"], kept["gender"], kept["birthday"]) == ("+8613800138000", "female", date(1990, 3, 5))
    assert [t["tag"] for t in await CustomerTag.select().where(CustomerTag.customer == survivor)] == ["导入"]
    assert await Customer.select().where(Customer.id.is_in([by_phone, by_email])).order_by(Customer.id) == merged_rows
    assert await CustomerTag.count().where(CustomerTag.customer.is_in([by_phone, by_email])) == 0

    again = await imported(csv_bytes(rows))
    assert (again.counts.created, again.counts.updated, again.counts.unchanged) == (0, 0, 1)


async def test_a_row_with_a_customers_further_phone_is_that_customer(database: str) -> None:
    zhang = await match_or_create_customer(
        CustomerContact(name="张伟", phone="+8613800138009"), channel="web", actor=cli_actor()
    )
    await update_customer(zhang, CustomerUpdate(extra_phones=["13800138000"]), actor=cli_actor())

    job = await imported(csv_bytes([HEADERS, *GOOD]))

    assert (job.status, job.counts.created, job.counts.updated) == ("done", 1, 1)  # 李娜 is new, 张伟 is not
    kept = opened_customer(await Customer.select().where(Customer.id == zhang).first() or {})
    assert (kept["name"], kept["phone"], kept["email"]) == ("张伟", "+8613800138009", "zw@example.com")
    assert await Customer.count() == 2
