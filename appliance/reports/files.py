"""A report table as a download: CSV (UTF-8 with a BOM, so Excel reads Chinese right) or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Final

from openpyxl import Workbook  # type: ignore[import-untyped]

from appliance.reports.catalogue import REPORTS, Column
from appliance.reports.schemas import Cell, ReportTable

# A text cell starting with one of these is a formula to a spreadsheet (=1+1, @SUM(…), -2+3, and a tab
# or carriage return hiding one): a leading apostrophe keeps it text (OWASP "CSV injection").
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
CSV_TYPE: Final = "text/csv"  # Litestar adds "; charset=utf-8" to every text/* type (it was there twice)
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_cell(value: Cell) -> Cell:
    """The value as a spreadsheet must show it: numbers stay numbers, text never becomes a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _columns(table: ReportTable) -> Sequence[Column]:
    return REPORTS[table.name].columns


def _lines(table: ReportTable) -> Iterator[list[Cell]]:
    columns = _columns(table)
    yield [f"{c.title_zh} ({c.title_en})" for c in columns]
    for row in table.rows:
        yield [safe_cell(row.get(c.key)) for c in columns]


def filename(table: ReportTable, extension: str) -> str:
    return f"{table.name}_{table.from_.isoformat()}_{table.to.isoformat()}.{extension}"


def as_csv(table: ReportTable) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in _lines(table):
        writer.writerow(["" if v is None else v for v in line])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_xlsx(table: ReportTable) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=table.title_en[:31])
    for line in _lines(table):
        sheet.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
