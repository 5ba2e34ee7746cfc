"""Import jobs: the uploaded file (in chunks, until the job is done), the job's progress and counts, and
the problems found in its rows. Rows hold codes and row numbers, never a cell's value."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, Bytea, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class ImportJob(Table):
    id = UUID(primary_key=True)
    kind = Varchar(length=16)  # customers | bookings
    status = Varchar(length=16, index=True)  # queued | running | done | failed
    phase = Varchar(length=16, default="")  # checking | writing, while running
    dry_run = Boolean(default=False)
    on_error = Varchar(length=8, default="abort")  # abort: nothing if any row is invalid | skip: the valid rows
    file_name = Varchar(length=255, default="")
    file_format = Varchar(length=8, default="")  # csv | xlsx, once read
    file_size = BigInt(default=0)
    file_sha256 = Varchar(length=64, default="")
    encoding = Varchar(length=16, default="")  # utf-8 | gbk, of a CSV
    headers = JSON(default=[])
    mapping_given = JSON(null=True, default=None)  # field → header, as the caller gave it
    mapping = JSON(default={})  # field → header in use
    rows_total = Integer(default=0)
    rows_done = Integer(default=0)
    counts = JSON(default={})  # rows, valid, invalid, duplicates, created, updated, unchanged, problems
    error_code = Varchar(length=64, default="")  # a problem with the whole file, or rows_invalid
    error_params = JSON(default={})
    actor = JSON(default={})  # who started it: kind, id, label, grants, scopes (to act as them in the worker)
    started_by = Varchar(length=64, null=True, default=None)  # the actor's id
    attempts = Integer(default=0)
    created_at = Timestamptz()
    started_at = Timestamptz(null=True, default=None)
    heartbeat_at = Timestamptz(null=True, default=None)  # a worker working on it was alive then
    finished_at = Timestamptz(null=True, default=None)


class ImportFileChunk(Table):
    """The uploaded file, in pieces of at most 1 MiB, held in the database so any worker can read it;
    deleted when the job is finished."""

    id = UUID(primary_key=True)
    job = ForeignKey(ImportJob, on_delete=OnDelete.cascade, index=True)
    seq = Integer()
    data = Bytea()


class ImportProblem(Table):
    id = UUID(primary_key=True)
    job = ForeignKey(ImportJob, on_delete=OnDelete.cascade, index=True)
    position = Integer()  # order of finding: rows in file order
    row = Integer()
    header = Varchar(length=200, default="")  # the column's header in the file; "" for the whole row
    code = Varchar(length=32)
    params = JSON(default={})
