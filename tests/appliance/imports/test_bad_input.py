"""Bad files through the import job, on both engines: a wrong encoding, too many rows, an empty sheet,
duplicate columns and dates written in many ways are each reported clearly (for the file, or per row)
and nothing is half-imported."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import Workbook  # type: ignore[import-untyped]

from appliance.bookings.tables import Booking
from appliance.customers.tables import Customer
from appliance.imports.actions import MAX_ROWS
from appliance.imports.tables import ImportFileChunk
from appliance.testing.builders import make_branch, make_resource, make_service
from tests.appliance.imports.support import csv_bytes, imported, xlsx_bytes

ROWS = [["姓名", "手机号"], ["张伟", "13800138000"], ["李娜", "13900139000"]]
BOOKING_HEADERS = ["客户姓名", "手机", "服务项目", "预约时间"]


async def _nothing_written() -> bool:
    return (await Customer.count(), await Booking.count(), await ImportFileChunk.count()) == (0, 0, 0)


async def test_a_file_in_neither_utf8_nor_gbk_is_refused_with_the_encoding_named(database: str) -> None:
    text = "姓名,手机号\n张伟,13800138000\n"
    # Excel's "Unicode text" (UTF-16 with a BOM), the same without a BOM, and bytes no encoding of ours has
    for content in (text.encode("utf-16"), text.encode("utf-16-le"), b"\xff\xfe\x80name,phone\n"):
        job = await imported(content)

        assert (job.status, job.counts.rows, job.problems) == ("failed", 0, [])
        assert job.file_problem is not None and job.file_problem.code == "unreadable_encoding"
        assert "UTF-8" in job.file_problem.message and "GBK" in job.file_problem.message_zh
        assert await _nothing_written()


async def test_a_file_in_another_legacy_encoding_is_refused_not_imported_garbled(database: str) -> None:
    """Almost any bytes decode as GB18030: Windows-1252 names and Japanese Shift-JIS would import as
    nonsense Chinese."""
    latin = "name,phone\nMüller,13800138000\nBjörn Ström,13900139000\nGünther Köhler,13700137000\nJürgen Bäcker,13600136000\n"
    latin_bytes = latin.encode("cp1252")
    japanese = "名前,電話\n山田太郎,13800138000\nさとう はなこ,13900139000\n".encode("shift_jis")
    for content in (latin_bytes, japanese):
        content.decode("gb18030")  # decodes: only the text it gives tells
        job = await imported(content)

        assert (job.status, job.counts.rows) == ("failed", 0)
        assert job.file_problem is not None and job.file_problem.code == "unreadable_encoding"
        assert await _nothing_written()


async def test_a_gbk_file_with_the_rare_characters_of_names_is_read(database: str) -> None:
    # 喆, 珺 and 堃 are GBK but not GB2312: a few of them are names, not another encoding.
    rows = [["姓名", "手机号", "备注"], ["王喆", "13800138000", "老客户"], ["李珺", "13900139000", "喜欢周末"],
            ["张堃", "13700137000", "皮肤敏感"]]
    job = await imported(csv_bytes(rows, encoding="gbk"))

    assert (job.status, job.counts.rows, job.file_problem) == ("done", 3, None)
    assert await Customer.count() == 3


async def test_a_file_over_the_row_limit_is_refused_before_anything_is_written(database: str) -> None:
    # A CSV is the cheapest honest file of MAX_ROWS + 1 rows; every row valid and distinct, so only the
    # limit can refuse it, and with on_error=skip so that only the limit stops the writing.
    lines = "".join(f"客{i},c{i}@example.com\n" for i in range(MAX_ROWS + 1))
    content = ("姓名,邮箱\n" + lines).encode()

    job = await imported(content, on_error="skip")

    assert job.status == "failed"
    assert job.file_problem is not None and job.file_problem.code == "too_many_rows"
    assert job.file_problem.message == f"more than {MAX_ROWS} rows; split the file"
    assert (job.counts.rows, job.counts.created, job.problems) == (MAX_ROWS + 1, 0, [])
    assert await _nothing_written()


async def test_a_sheet_reaching_excels_last_row_is_read_to_it_and_its_rows_named_by_their_number(database: str) -> None:
    # A sheet whose last cell is on row 1,048,576 (a column formatted or filled down to the end): the blank
    # rows between are left out, not counted against the limit, and the last row is reported by its number.
    book = Workbook()
    sheet = book.active
    for row in ROWS[:2]:
        sheet.append(row)
    sheet.cell(row=1_048_576, column=1, value="李娜")
    sheet.cell(row=1_048_576, column=2, value="12345")
    out = io.BytesIO()
    book.save(out)

    job = await imported(out.getvalue(), file_name="客户.xlsx")

    assert (job.status, job.counts.rows, job.counts.valid, job.counts.invalid) == ("failed", 2, 1, 1)
    assert job.file_problem is not None and job.file_problem.code == "rows_invalid"
    assert [(p.row, p.column, p.code) for p in job.problems] == [(1_048_576, "手机号", "invalid_phone")]
    assert await _nothing_written()


def _empty_xlsx() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)  # one sheet, no cell written
    return out.getvalue()


async def test_an_empty_xlsx_sheet_is_refused_as_having_no_header_row(database: str) -> None:
    job = await imported(_empty_xlsx(), file_name="客户.xlsx")

    assert (job.status, job.file_format, job.counts.rows) == ("failed", "", 0)
    assert job.file_problem is not None and job.file_problem.code == "empty_file"
    assert (job.file_problem.message, job.file_problem.message_zh) == ("the file has no header row", "文件没有表头行")
    assert await _nothing_written()


async def test_a_sheet_with_headers_but_no_rows_is_refused_not_done_with_nothing(database: str) -> None:
    for content, file_name in ((xlsx_bytes([ROWS[0], [None, None], []]), "客户.xlsx"), (csv_bytes([ROWS[0]]), "客户.csv")):
        job = await imported(content, file_name=file_name)

        assert (job.status, job.counts.rows, job.headers) == ("failed", 0, ["姓名", "手机号"])
        assert job.file_problem is not None and job.file_problem.code == "no_rows"
        assert job.file_problem.message == "the file has a header row but no data"
        assert await _nothing_written()


async def test_a_duplicate_column_refuses_the_file_and_names_the_column(database: str) -> None:
    rows = [["姓名", "手机号", "手机号"], ["张伟", "13800138000", "13900139000"]]
    for content, file_name in ((csv_bytes(rows), "客户.csv"), (xlsx_bytes(rows), "客户.xlsx")):
        job = await imported(content, file_name=file_name, on_error="skip")

        assert job.status == "failed"
        assert job.file_problem is not None and job.file_problem.code == "duplicate_column"
        assert job.file_problem.message == "the column 手机号 appears twice"
        assert [(p.row, p.column, p.code) for p in job.problems] == [(1, "手机号", "duplicate_column")]
        assert await _nothing_written()


async def _shop() -> None:
    branch = await make_branch("静安店")  # Asia/Shanghai: a time without an offset is read as UTC+8
    await make_resource(branch.id, name="王芳")
    await make_service(branch.id, "精油按摩", 60)


async def test_booking_times_written_in_many_ways_import_as_the_same_instants(database: str) -> None:
    await _shop()
    written = [
        "2025-03-05 14:30", "2025/3/6 9:05", "2025.03.07 10:00:30", "2025年3月8日 10点30分", "2025年3月9日10:30",
        "2025-03-10T11:00:00+08:00", "2025-03-11T03:00Z", "２０２５－０３－１２ １０：００",  # full-width digits (NFKC)
    ]
    csv_rows = [BOOKING_HEADERS, *(["张伟", "13800138000", "精油按摩", when] for when in written)]
    xlsx_rows: list[list[object]] = [BOOKING_HEADERS, ["张伟", "13800138000", "精油按摩", datetime(2025, 3, 13, 16, 45)]]

    from_csv = await imported(csv_bytes(csv_rows), "bookings")
    from_xlsx = await imported(xlsx_bytes(xlsx_rows), "bookings", file_name="预约.xlsx")

    assert (from_csv.status, from_csv.counts.created, from_csv.problems) == ("done", len(written), [])
    assert (from_xlsx.status, from_xlsx.counts.created, from_xlsx.problems) == ("done", 1, [])
    starts = [b["starts_at"] for b in await Booking.select(Booking.starts_at).order_by(Booking.starts_at)]
    assert [s.astimezone(UTC) for s in starts] == [
        datetime(2025, 3, 5, 6, 30, tzinfo=UTC), datetime(2025, 3, 6, 1, 5, tzinfo=UTC),
        datetime(2025, 3, 7, 2, 0, 30, tzinfo=UTC), datetime(2025, 3, 8, 2, 30, tzinfo=UTC),
        datetime(2025, 3, 9, 2, 30, tzinfo=UTC), datetime(2025, 3, 10, 3, 0, tzinfo=UTC),
        datetime(2025, 3, 11, 3, 0, tzinfo=UTC), datetime(2025, 3, 12, 2, 0, tzinfo=UTC),
        datetime(2025, 3, 13, 8, 45, tzinfo=UTC),
    ]


async def test_booking_times_that_cannot_be_read_are_reported_per_row_and_nothing_is_written(database: str) -> None:
    await _shop()
    rows = [
        BOOKING_HEADERS,
        ["张伟", "13800138000", "精油按摩", "2025-03-05 14:30"],  # fine, but the file is refused as a whole
        ["张伟", "13800138000", "精油按摩", "5/3/2025 14:30"],  # day or month first: not guessed
        ["张伟", "13800138000", "精油按摩", "2025-03-05"],  # no time of day
        ["张伟", "13800138000", "精油按摩", "2025-02-30 10:00"],  # no such day
        ["张伟", "13800138000", "精油按摩", "2025-03-05 25:00"],  # no such hour
        ["张伟", "13800138000", "精油按摩", "45721.5"],  # a spreadsheet's serial number, not a time
    ]

    job = await imported(csv_bytes(rows), "bookings")

    assert job.status == "failed"
    assert job.file_problem is not None and job.file_problem.code == "rows_invalid"
    assert [(p.row, p.column, p.code) for p in job.problems] == [(n, "预约时间", "invalid_datetime") for n in range(3, 8)]
    assert job.problems[0].message == "not a date and time; write it as 2024-03-05 14:30"
    assert (job.counts.valid, job.counts.invalid) == (1, 5)
    assert await _nothing_written()
