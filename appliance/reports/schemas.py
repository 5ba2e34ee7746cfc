"""Report bodies: the list of reports, and one report's table."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import msgspec

Cell = str | int | float | None


class ReportColumn(msgspec.Struct):
    key: str
    title_zh: str
    title_en: str
    kind: str  # text | date | count | money (minor units) | rate (0–1) | hours | rating (1–5)


class ReportParameter(msgspec.Struct):
    name: str
    required: bool
    description: str


class ReportInfo(msgspec.Struct):
    name: str
    title_zh: str
    title_en: str
    parameters: list[ReportParameter]
    columns: list[ReportColumn]


class ReportTable(msgspec.Struct):
    name: str
    title_zh: str
    title_en: str
    from_: date = msgspec.field(name="from")
    to: date
    bucket: str | None  # day | week | month for trends; null when the report spans the whole period
    branch_ids: list[UUID]
    columns: list[str]
    rows: list[dict[str, Cell]]
