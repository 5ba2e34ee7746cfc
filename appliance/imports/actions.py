"""Import jobs: starting one (the file stored, a task sent) and running it in the worker.

A run reads the file twice, streaming. The first pass checks every row and stores its problems; a dry
run stops there. The second pass writes the valid rows in batches of `BATCH`, each batch one
transaction with the job's progress, through the customers and bookings actions. With
`on_error=abort` (the default) a file with any invalid row writes nothing. Writing is idempotent
(customers matched by phone or email, bookings by customer, service and start), so a run the sweeper
restarts after a crash, or the same file imported again, changes nothing twice. The run is audited
once, when it ends, with counts only.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor, Grant
from appliance.auth.roles import Permission, Role
from appliance.bookings.actions import import_bookings
from appliance.bookings.schemas import ImportedBooking
from appliance.catalog.tables import Branch, Resource, Service
from appliance.core.clock import utc_now
from appliance.core.db import after_commit, write_transaction
from appliance.core.errors import Forbidden, Invalid
from appliance.core.log import get_logger
from appliance.customers.actions import import_customers
from appliance.customers.facts import refresh_facts
from appliance.customers.loyalty import SYSTEM as LOYALTY, refresh_tiers
from appliance.customers.queries import find_customers_by_contacts, get_programme
from appliance.customers.schemas import ImportedCustomer
from appliance.events.envelope import Subject
from appliance.imports import logic, schemas
from appliance.imports.logic import Catalogue, CatalogueService, Kind, Problem, Row, Tiers
from appliance.imports.reading import FileProblem, Table, open_table
from appliance.imports.tables import ImportFileChunk, ImportJob, ImportProblem
from appliance.reports.rollup import refresh_at as refresh_rollups_at
from appliance.worker.actors import enqueue

_log = get_logger(__name__)

BATCH = 1000  # rows per transaction (and per INSERT of customers)
CHUNK_BYTES = 1 << 20
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ROWS = 200_000
MAX_STORED_PROBLEMS = 50_000  # counted beyond that, not stored
STALE = timedelta(minutes=2)  # a running job whose worker has not been heard of for this long is restarted
QUEUED_GRACE = timedelta(seconds=30)
OnError = Literal["abort", "skip"]


@dataclass(frozen=True)
class ImportRequest:
    kind: str
    file_name: str
    dry_run: bool = False
    on_error: str = "abort"
    mapping: dict[str, str] | None = None


async def start_import(request: ImportRequest, content: bytes, *, actor: Actor) -> UUID:
    """Store the file and queue the job; its id. The file is read by the worker, not here."""
    if not actor.can(Permission.data_import):
        raise Forbidden(f"this needs the permission {Permission.data_import.value}")
    problems: dict[str, str] = {}
    if request.kind not in logic.KINDS:
        problems["kind"] = "customers or bookings"
    if request.on_error not in ("abort", "skip"):
        problems["on_error"] = "abort (import nothing if any row is invalid) or skip (import the valid rows)"
    if not content:
        problems["file"] = "the file is empty"
    elif len(content) > MAX_FILE_BYTES:
        problems["file"] = logic.message("too_large", {"max_mb": MAX_FILE_BYTES >> 20})
    if request.mapping is not None and request.kind in logic.KINDS:
        fields = logic.FIELDS[request.kind]
        for name, header in request.mapping.items():
            if name not in fields:
                problems[f"mapping.{name}"] = f"not a field of {request.kind}: one of {', '.join(fields)}"
            elif not header.strip():
                problems[f"mapping.{name}"] = "the header of a column of the file"
    if problems:
        raise Invalid(problems)
    job_id = uuid4()
    async with write_transaction():
        await ImportJob.insert(ImportJob(
            id=job_id, kind=request.kind, status="queued", dry_run=request.dry_run, on_error=request.on_error,
            file_name=request.file_name[:255], file_size=len(content), file_sha256=hashlib.sha256(content).hexdigest(),
            mapping_given=request.mapping, actor=_actor_record(actor), started_by=actor.id, created_at=utc_now(),
        ))
        for seq, start in enumerate(range(0, len(content), CHUNK_BYTES)):
            await ImportFileChunk.insert(
                ImportFileChunk(id=uuid4(), job=job_id, seq=seq, data=content[start:start + CHUNK_BYTES])
            )
        after_commit(lambda: enqueue("run_import", str(job_id)))
    return job_id


def _actor_record(actor: Actor) -> dict[str, Any]:
    return {
        "kind": actor.kind, "id": actor.id, "label": actor.label, "auth_method": actor.auth_method,
        "user_id": str(actor.user_id) if actor.user_id else None,
        "grants": [[g.role.value, str(g.branch_id) if g.branch_id else None] for g in actor.grants],
        "scopes": sorted(p.value for p in actor.scopes) if actor.scopes is not None else None,
        "ip": actor.ip, "request_id": actor.request_id, "superuser": actor.superuser,
    }


def actor_of_job(record: dict[str, Any]) -> Actor:
    """The actor who started the job, with the grants they had then, to act as them in the worker."""
    return Actor(
        kind=record["kind"], id=record["id"], label=record["label"], auth_method=record["auth_method"],
        user_id=UUID(record["user_id"]) if record.get("user_id") else None,
        grants=tuple(Grant(Role(role), UUID(branch) if branch else None) for role, branch in record.get("grants", [])),
        scopes=frozenset(Permission(p) for p in record["scopes"]) if record.get("scopes") is not None else None,
        ip=record.get("ip"), request_id=record.get("request_id"), superuser=bool(record.get("superuser")),
    )


# --- Running ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    job_id: UUID
    kind: Kind
    actor: Actor
    dry_run: bool
    on_error: OnError
    tally: schemas.Counts = field(default_factory=schemas.Counts)
    skip: set[int] = field(default_factory=set)  # rows not to write: invalid or duplicates
    pending: list[Problem] = field(default_factory=list)
    stored: int = 0


async def run_import(job_id: UUID) -> bool:
    """Claim the job and run it to its end; False when another worker has it or it is finished."""
    now = utc_now()
    claimed = await ImportJob.update({
        ImportJob.status: "running", ImportJob.phase: "checking", ImportJob.started_at: now,
        ImportJob.heartbeat_at: now, ImportJob.attempts: ImportJob.attempts + 1,
    }).where(
        (ImportJob.id == job_id) & (
            (ImportJob.status == "queued")
            | ((ImportJob.status == "running") & (ImportJob.heartbeat_at < now - STALE))
        )
    ).returning(ImportJob.id, ImportJob.kind, ImportJob.actor, ImportJob.dry_run, ImportJob.on_error, ImportJob.mapping_given)
    if not claimed:
        return False
    job = claimed[0]
    run = Run(
        job_id, job["kind"], actor_of_job(_json(job["actor"])), job["dry_run"], job["on_error"],
    )
    _log.info("import_started", job=str(job_id), kind=run.kind, dry_run=run.dry_run)
    await ImportProblem.delete().where(ImportProblem.job == job_id)  # of an attempt cut short
    with tempfile.TemporaryDirectory(prefix="appliance-import-") as folder:
        path = Path(folder) / "upload"
        await _spool(job_id, path)
        try:
            await _run(run, path, _json(job["mapping_given"]))
        except FileProblem as problem:
            await _finish(run, "failed", error=(problem.code, problem.params))
        except Exception:
            _log.exception("import_failed", job=str(job_id))
            await _finish(run, "failed", error=("internal_error", {}))
    return True


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


async def _spool(job_id: UUID, path: Path) -> None:
    """Copy the stored file to a private temporary file, a chunk at a time."""
    with path.open("wb") as out:
        chunks = await ImportFileChunk.select(ImportFileChunk.seq).where(ImportFileChunk.job == job_id).order_by(
            ImportFileChunk.seq
        )
        for chunk in chunks:
            piece = await ImportFileChunk.select(ImportFileChunk.data).where(
                (ImportFileChunk.job == job_id) & (ImportFileChunk.seq == chunk["seq"])
            ).first()
            assert piece is not None
            out.write(piece["data"])


async def _run(run: Run, path: Path, given: dict[str, str] | None) -> None:
    tiers = Tiers.of((t.key, t.name) for t in (await get_programme()).tiers)
    catalogue = await _catalogue() if run.kind == "bookings" else None
    scope = run.actor.branch_scope(Permission.data_import)
    now = utc_now()
    spool = path.with_name("valid.jsonl")  # customers found valid, so the write pass need not read them again
    with open_table(path) as table, spool.open("wb") as valid:
        mapping = given if given is not None else logic.guess_mapping(run.kind, table.headers)
        await ImportJob.update({
            ImportJob.file_format: table.format, ImportJob.encoding: table.encoding, ImportJob.headers: table.headers,
            ImportJob.mapping: mapping,
        }).where(ImportJob.id == run.job_id)
        if mapping_problems := logic.mapping_problems(run.kind, table.headers, mapping):
            run.pending.extend(mapping_problems)
            await _flush(run)
            first = mapping_problems[0]
            raise FileProblem(first.code, **first.params)
        columns = logic.column_indexes(table.headers, mapping)
        seen_phone: dict[str, int] = {}
        seen_email: dict[str, int] = {}
        named: set[str] = set()
        for batch in _batches(table):
            nameless: list[logic.BookingLine] = []
            for number, cells in batch:
                run.tally.rows += 1
                if run.tally.rows > MAX_ROWS:
                    raise FileProblem("too_many_rows", max=MAX_ROWS)
                row = Row(number, cells, columns, table.headers)
                if run.kind == "customers":
                    customer = logic.check_customer(row, tiers)
                    if customer is not None and _first(run, row, customer, seen_phone, seen_email, mapping):
                        valid.write(_ENCODER.encode(customer) + b"\n")
                else:
                    assert catalogue is not None
                    line = logic.check_booking_line(row)
                    if line is not None and logic.resolve_booking(row, line, catalogue, scope=scope, now=now) is not None:
                        if line.name:
                            named.add(line.phone)  # the import makes this customer if need be
                        elif line.phone not in named:
                            nameless.append(line)
                _count(run, row)
            if nameless:
                await _check_customers_exist(run, nameless, mapping)
            await _flush(run, phase="checking", rows_done=run.tally.rows)
    if not run.tally.rows:
        raise FileProblem("no_rows")  # a header row alone: refused, not "done" having imported nothing
    run.tally.valid = run.tally.rows - run.tally.invalid - run.tally.duplicates
    await _flush(run, rows_total=run.tally.rows)
    if run.dry_run:
        await _finish(run, "done")
        return
    if run.tally.invalid and run.on_error == "abort":
        await _finish(run, "failed", error=("rows_invalid", {"invalid": run.tally.invalid}))
        return
    await ImportJob.update({ImportJob.phase: "writing", ImportJob.rows_done: 0}).where(ImportJob.id == run.job_id)
    written = 0
    if run.kind == "customers":
        for customers in _spooled(spool):
            async with write_transaction():
                await _write_customers(run, customers)
                written += len(customers)
                await _flush(run, rows_done=written)
    else:
        assert catalogue is not None
        with open_table(path) as table:
            for batch in _batches(table):
                rows = [Row(number, cells, columns, table.headers) for number, cells in batch if number not in run.skip]
                async with write_transaction():
                    await _write_bookings(run, rows, catalogue, scope, now)
                    written += len(rows)
                    await _flush(run, rows_done=written)
    await _finish(run, "done")


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(ImportedCustomer)


def _spooled(spool: Path) -> Iterator[list[ImportedCustomer]]:
    batch: list[ImportedCustomer] = []
    with spool.open("rb") as lines:
        for line in lines:
            batch.append(_DECODER.decode(line))
            if len(batch) == BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _batches(table: Table) -> Iterator[list[tuple[int, Sequence[logic.Cell]]]]:
    batch: list[tuple[int, Sequence[logic.Cell]]] = []
    for item in table.rows:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _first(
    run: Run, row: Row, customer: ImportedCustomer, seen_phone: dict[str, int], seen_email: dict[str, int],
    mapping: dict[str, str],
) -> bool:
    """Whether this is the first row of its customer. A later row with the phone of an earlier row (or,
    without a phone, its email) is reported and skipped: the first wins. Phone is what identifies a
    customer; an email only where there is no phone."""
    by, value, seen = ("phone", customer.phone, seen_phone) if customer.phone else ("email", customer.email, seen_email)
    if value is not None and (first := seen.get(value)) is not None:
        run.pending.append(logic.first_seen_problem(row.number, mapping.get(by, ""), by, first))
        run.tally.duplicates += 1
        run.skip.add(row.number)
        return False
    for by, value, seen in (("phone", customer.phone, seen_phone), ("email", customer.email, seen_email)):
        if value is not None:
            seen[value] = row.number
    return True


def _count(run: Run, row: Row) -> None:
    if row.problems:
        run.tally.invalid += 1
        run.skip.add(row.number)
        run.pending.extend(row.problems)


async def _check_customers_exist(run: Run, lines: list[logic.BookingLine], mapping: dict[str, str]) -> None:
    """A booking row without a name must be for a customer the appliance has (found by phone)."""
    by_phone, _ = await find_customers_by_contacts(sorted({line.phone for line in lines}), [])
    for line in lines:
        if line.phone not in by_phone:
            run.pending.append(Problem(line.row, mapping.get("name", ""), "unknown_customer"))
            run.tally.invalid += 1
            run.skip.add(line.row)


async def _flush(run: Run, *, phase: str | None = None, rows_done: int | None = None, rows_total: int | None = None) -> None:
    """Store the problems found so far and the job's progress (proof of life for the sweeper, too)."""
    run.tally.problems += len(run.pending)
    room = max(MAX_STORED_PROBLEMS - run.stored, 0)
    keep, run.pending = run.pending[:room], []
    values: dict[Any, Any] = {ImportJob.heartbeat_at: utc_now(), ImportJob.counts: msgspec.structs.asdict(run.tally)}
    if phase is not None:
        values[ImportJob.phase] = phase
    if rows_done is not None:
        values[ImportJob.rows_done] = rows_done
    if rows_total is not None:
        values[ImportJob.rows_total] = rows_total
    async with write_transaction():
        for start in range(0, len(keep), BATCH):
            await ImportProblem.insert(*(
                ImportProblem(
                    id=uuid4(), job=run.job_id, position=run.stored + start + i, row=p.row, header=p.column[:200],
                    code=p.code, params=dict(p.params),
                )
                for i, p in enumerate(keep[start:start + BATCH])
            ))
        run.stored += len(keep)
        await ImportJob.update(values).where(ImportJob.id == run.job_id)


async def _write_customers(run: Run, batch: list[ImportedCustomer]) -> None:
    outcome = await import_customers(batch, actor=run.actor)
    run.tally.created += outcome.created
    run.tally.updated += outcome.updated
    run.tally.unchanged += outcome.unchanged


async def _write_bookings(run: Run, rows: list[Row], catalogue: Catalogue, scope: frozenset[UUID] | None, now: datetime) -> None:
    resolved = [
        r for row in rows
        if (line := logic.check_booking_line(row)) is not None
        and (r := logic.resolve_booking(row, line, catalogue, scope=scope, now=now)) is not None
    ]
    contacts: dict[str, ImportedCustomer] = {}
    for r in resolved:
        contacts.setdefault(r.line.phone, ImportedCustomer(row=r.line.row, name=r.line.name, phone=r.line.phone, email=r.line.email))
    customers = await import_customers(list(contacts.values()), actor=run.actor)
    by_phone = {c.phone: customers.ids[c.row] for c in contacts.values()}
    outcome = await import_bookings([
        ImportedBooking(
            row=r.line.row, customer_id=by_phone[r.line.phone], branch_id=r.branch_id, service_id=r.service_id,
            starts_at=r.starts_at, ends_at=r.ends_at, status=r.line.status, price_amount=r.price_amount,
            price_currency=r.price_currency, payment_status=r.payment_status, staff_id=r.staff_id, notes=r.line.note,
        )
        for r in resolved
    ], actor=run.actor)
    run.tally.created += outcome.created
    run.tally.unchanged += outcome.unchanged
    run.tally.customers_created += customers.created
    if outcome.created:
        # Their facts and tiers as the live listener keeps them, by the same code; no audit line each.
        ids = sorted(set(by_phone.values()))
        await refresh_facts(ids)
        await refresh_tiers(ids, programme=await get_programme(), actor=LOYALTY, audit_each=False)
        # The report rollups of the days they fell on, as the live listener keeps them for one booking.
        await refresh_rollups_at(
            [(r.branch_id, r.starts_at) for r in resolved], customers=ids,
            resources=sorted({r.staff_id for r in resolved if r.staff_id is not None}),
        )


async def _catalogue() -> Catalogue:
    branches = await Branch.select(Branch.id, Branch.name, Branch.timezone)
    services: dict[str, list[CatalogueService]] = {}
    for s in await Service.select(
        Service.id, Service.branch, Service.name, Service.duration_minutes, Service.price_amount, Service.price_currency,
    ):
        services.setdefault(logic.name_key(s["name"]), []).append(CatalogueService(
            s["id"], s["branch"], s["duration_minutes"], s["price_amount"], s["price_currency"],
        ))
    staff = {
        (r["branch"], logic.name_key(r["name"])): r["id"]
        for r in await Resource.select(Resource.id, Resource.branch, Resource.name).where(Resource.kind == "staff")
    }
    return Catalogue(
        branches={logic.name_key(b["name"]): (b["id"], b["timezone"]) for b in branches}, services=services,
        staff=staff, zones={b["id"]: b["timezone"] for b in branches},
    )


async def _finish(run: Run, status: str, *, error: tuple[str, dict[str, Any]] | None = None) -> None:
    """The job's end, audited with counts only (no value of the file), and the stored file deleted."""
    counts = msgspec.structs.asdict(run.tally)
    async with write_transaction():
        await ImportJob.update({
            ImportJob.status: status, ImportJob.phase: "", ImportJob.finished_at: utc_now(), ImportJob.counts: counts,
            ImportJob.error_code: error[0] if error else "", ImportJob.error_params: dict(error[1]) if error else {},
        }).where(ImportJob.id == run.job_id)
        await ImportFileChunk.delete().where(ImportFileChunk.job == run.job_id)
        details = {"kind": run.kind, "dry_run": run.dry_run, "status": status, "error": error[0] if error else None, **counts}
        await record_change(
            "import.completed" if status == "done" else "import.failed", Subject("import", str(run.job_id)),
            {"import_id": str(run.job_id), **details}, actor=run.actor,
            changed_fields=[] if run.dry_run else (["customers"] if run.kind == "customers" else ["bookings", "customers"]),
            details=details,
        )
    _log.info("import_finished", job=str(run.job_id), status=status, **counts)


async def resume_imports(now: datetime) -> int:
    """Sweeper step: send again the jobs whose message was lost (an in-memory broker's queue on restart) or
    whose worker died; the claim in `run_import` lets only one worker have each."""
    rows = await ImportJob.select(ImportJob.id).where(
        ((ImportJob.status == "queued") & (ImportJob.created_at < now - QUEUED_GRACE))
        | ((ImportJob.status == "running") & (ImportJob.heartbeat_at < now - STALE))
    ).limit(20)
    for row in rows:
        enqueue("run_import", str(row["id"]))
    return len(rows)
