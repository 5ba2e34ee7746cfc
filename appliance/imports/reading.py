"""Reading an uploaded table row by row with bounded memory: CSV (UTF-8 with or without a BOM, or GBK /
GB18030, found by decoding) and XLSX (openpyxl's read-only streaming; formulas kept as formulas, so a row
can be told it holds one rather than silently importing a stale cached value)."""

from __future__ import annotations

import codecs
import csv
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Literal

from appliance.imports.logic import Cell, text

Format = Literal["csv", "xlsx"]
ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK and GB2312
_CHUNK = 1 << 20
_ASCII = re.compile(r"[\x00-\x7f]+")


class FileProblem(Exception):
    """The file as a whole cannot be read; `code` is one of `logic.MESSAGES`."""

    def __init__(self, code: str, **params: str | int) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class Table:
    format: Format
    encoding: str  # of a CSV; "" for XLSX
    headers: list[str]
    rows: Iterator[tuple[int, Sequence[Cell]]]  # (the row's number in the sheet, its cells); blank rows left out


def file_format(path: Path) -> Format:
    with path.open("rb") as raw:
        magic = raw.read(4)
    return "xlsx" if magic == b"PK\x03\x04" else "csv"


def detect_encoding(path: Path) -> str:
    """UTF-8 if it decodes the whole file, else GB18030 if it does and the text reads as Chinese; read in
    chunks. Almost any bytes decode as GB18030, so a file in another legacy encoding (Windows-1252's
    "Müller", Shift-JIS) would import garbled: it is refused when its non-ASCII characters are mostly
    outside GB2312, the common Chinese set a GBK file's text is nearly all in."""
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        chinese = ChineseShare()
        try:
            with path.open("rb") as raw:
                while chunk := raw.read(_CHUNK):
                    chinese.add(decoder.decode(chunk))
                chinese.add(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030" and not chinese.plausible():
            break
        return encoding
    raise FileProblem("unreadable_encoding")


class ChineseShare:
    """How many of a text's non-ASCII characters are in GB2312. Rare characters of names (喆, 珺) are
    GBK only, so some are allowed: three, or a quarter of them (Shift-JIS reads as four in five outside)."""

    def __init__(self) -> None:
        self.others = self.outside = 0

    def add(self, text: str) -> None:
        for char, count in Counter(_ASCII.sub("", text)).items():
            self.others += count
            try:
                char.encode("gb2312")
            except UnicodeEncodeError:
                self.outside += count

    def plausible(self) -> bool:
        return self.outside <= max(3, self.others // 4)


@contextmanager
def open_table(path: Path) -> Iterator[Table]:
    """The file's header row and a lazy iterator over its data rows."""
    if file_format(path) == "xlsx":
        with _xlsx(path) as table:
            yield table
        return
    encoding = detect_encoding(path)
    with path.open("r", encoding=encoding, newline="") as stream:
        sample = stream.read(64 * 1024)
        stream.seek(0)
        if "\x00" in sample:
            # NULs in text that decoded: UTF-16 without a BOM, read as UTF-8 or GB18030 garbage. The
            # person must save it again in another encoding, which "not a table" would not tell them.
            raise FileProblem("unreadable_encoding")
        first_line = sample.split("\n", 1)[0]
        delimiter = max((",", "\t", ";"), key=first_line.count)
        reader = csv.reader(stream, delimiter=delimiter)
        try:
            headers = [text(h) for h in next(reader)]
        except StopIteration:
            raise FileProblem("empty_file") from None
        except csv.Error:
            raise FileProblem("not_a_table") from None
        if not any(headers):
            raise FileProblem("empty_file")
        yield Table("csv", "utf-8" if encoding == "utf-8-sig" else "gbk", headers, _csv_rows(reader))


def _csv_rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, Sequence[Cell]]]:
    number = 1
    try:
        for cells in reader:
            number += 1
            if any(c.strip() for c in cells):
                yield number, cells
    except csv.Error:
        raise FileProblem("not_a_table") from None


@contextmanager
def _xlsx(path: Path) -> Iterator[Table]:
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # imported only when an XLSX comes

    handle = path.open("rb")  # a file object: openpyxl judges a path by its extension, and ours has none
    try:
        book = load_workbook(handle, read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        handle.close()
        raise FileProblem("not_a_table") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise FileProblem("empty_file")
        rows = sheet.iter_rows(values_only=True)
        try:
            first = next(rows)
        except StopIteration:
            raise FileProblem("empty_file") from None
        headers = [text(h) for h in first]
        while headers and not headers[-1]:
            headers.pop()
        if not headers:
            raise FileProblem("empty_file")
        yield Table("xlsx", "", headers, _xlsx_rows(rows))
    finally:
        book.close()
        handle.close()


def _xlsx_rows(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[int, Sequence[Cell]]]:
    for number, cells in enumerate(rows, start=2):
        values = [_cell(c) for c in cells]
        if any(v not in (None, "") for v in values):
            yield number, values


def _cell(value: object) -> Cell:
    if value is None or isinstance(value, str | int | float | bool | datetime | date | time):
        return value
    return str(value)


def headers_of(content: bytes) -> list[str]:
    """The header row of an uploaded file, so a person can choose the mapping before the job runs;
    FileProblem when it cannot be read as a table. The file goes to a private temporary file, as the
    worker's copy does."""
    with tempfile.NamedTemporaryFile(prefix="import-headers-") as spool:
        spool.write(content)
        spool.flush()
        with open_table(Path(spool.name)) as table:
            return list(table.headers)
