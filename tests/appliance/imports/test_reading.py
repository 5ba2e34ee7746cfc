"""The header row of an uploaded file, read before a job is started: CSV in UTF-8 or GBK, and XLSX."""

from __future__ import annotations

import pytest

from appliance.imports.reading import FileProblem, headers_of
from tests.appliance.imports.support import csv_bytes, xlsx_bytes

ROWS = [["姓名", "联系电话", "备注"], ["张伟", "13800138000", ""]]


def test_the_headers_of_a_csv_in_utf8_or_gbk_and_of_an_xlsx() -> None:
    assert headers_of(csv_bytes(ROWS)) == ["姓名", "联系电话", "备注"]
    assert headers_of(csv_bytes(ROWS, encoding="gbk")) == ["姓名", "联系电话", "备注"]
    assert headers_of(xlsx_bytes(ROWS)) == ["姓名", "联系电话", "备注"]


def test_an_empty_file_has_no_headers_to_offer() -> None:
    with pytest.raises(FileProblem) as refused:
        headers_of(b"\n")
    assert refused.value.code == "empty_file"


def test_utf16_text_with_or_without_a_bom_is_refused_for_its_encoding() -> None:
    # Without a BOM, some UTF-16 text decodes as UTF-8 or GB18030 (to garbage holding NULs)
    for text in ("姓名,手机号\n张伟,13800138000\n", "Name,Phone\nZhang Wei,13800138000\n"):
        for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
            with pytest.raises(FileProblem) as refused:
                headers_of(text.encode(encoding))
            assert refused.value.code == "unreadable_encoding", (text, encoding)
