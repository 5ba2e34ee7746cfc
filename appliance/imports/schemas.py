"""What the imports API takes and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

Status = Literal["queued", "running", "done", "failed"]


class Progress(msgspec.Struct):
    phase: str  # checking | writing | "" (queued or finished)
    rows_done: int
    rows_total: int  # known once the file has been read through


class Counts(msgspec.Struct):
    rows: int = 0  # data rows in the file (blank rows left out)
    valid: int = 0
    invalid: int = 0  # rows with problems
    duplicates: int = 0  # rows whose phone or email an earlier row of the file has (skipped)
    created: int = 0  # customers (customers) or bookings (bookings) written
    updated: int = 0  # existing customers whose blank fields were filled or who got tags
    unchanged: int = 0  # rows already in the appliance
    customers_created: int = 0  # bookings import: new customers for its rows
    problems: int = 0


class ProblemOut(msgspec.Struct):
    row: int
    column: str
    code: str
    message: str
    message_zh: str


class FileProblemOut(msgspec.Struct):
    code: str
    message: str
    message_zh: str


class Import(msgspec.Struct):
    id: UUID
    kind: str
    status: Status
    dry_run: bool
    on_error: str
    file_name: str
    file_format: str
    encoding: str
    progress: Progress
    counts: Counts
    headers: list[str]
    mapping: dict[str, str]  # field → the file's header, in use (given, or guessed from the headers)
    guessed: bool  # the mapping was guessed
    file_problem: FileProblemOut | None  # why the whole file was refused (or rows_invalid)
    problems: list[ProblemOut]  # the first 100; errors.csv has all of them
    problems_by_code: dict[str, int]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
