"""CSV/XLSX import of customers and backfilled orders, from the admin.

1. **Check** (dry run): every row is parsed and validated with the API's own
   row serializers; the job keeps the errors per row (line numbers as in the
   file) and a preview. Nothing is written but the job.
2. **Import**, only when no row has an error: all rows through the same
   services as ``POST /api/v1/customers/bulk`` and ``POST
   /api/v1/conversions/bulk`` with backfill (on PostgreSQL COPY-staged:
   ``recruitment.staging``), in **one transaction**: a failure
   (or a killed worker) leaves nothing half-imported. Files above
   ``SYNC_ROWS`` rows import in Celery; the progress is written on a second
   database connection, so the admin's progress bar moves while the import's
   own transaction is still open.

Written by hand rather than with django-import-export: rows must go through
the services (linking, scoring, idempotent orders), be validated exactly as
the API does, and import in Celery with a progress bar, none of which its
``Resource`` save path gives without overriding most of it.
"""

import csv
import io
from datetime import UTC, datetime, timedelta

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Program
from core import outbox
from core.errors import ServiceError
from core.hashing import fingerprint

from . import services
from .models import ImportJob
from .serializers import ConversionRowInput, CustomerRowInput

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 500_000
SYNC_ROWS = 2000
CHUNK = 1000
KEEP_ERRORS = 500
# The advisory lock namespace of import jobs (pg_advisory_xact_lock(namespace, job id)).
LOCK_NAMESPACE = 7311
# Longer than the import task's time limit: on SQLite a job running this long is lost.
RUN_LIMIT = timedelta(hours=1, minutes=5)
TABLE = ImportJob._meta.db_table
BOOL = {"1": True, "true": True, "yes": True, "y": True, "0": False, "false": False, "no": False,
        "n": False, "": None}  # fmt: skip

CUSTOMER_COLUMNS = ["external_id", "email", "name", "locale", "marketing_consent", "reviews",
                    "review_rating", "social_engagement"]  # fmt: skip
ORDER_COLUMNS = ["order_id", "amount", "currency", "customer_external_id", "customer_email",
                 "occurred_at"]  # fmt: skip


def read_rows(filename: str, data: bytes) -> list[dict]:
    """The file's rows as dicts of strings keyed by the header row (CSV or XLSX)."""
    if filename.lower().endswith(".xlsx"):
        # Loaded only for an XLSX upload: web processes start without it.
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise ServiceError("bad_file", f"Not a readable XLSX file: {exc}") from exc
        rows = sheet.iter_rows(values_only=True)
        header = [str(h or "").strip().lower() for h in next(rows, [])]
        out = []
        for values in rows:
            if values is None or all(v is None for v in values):
                continue
            out.append({h: _cell(v) for h, v in zip(header, values, strict=False) if h})
        return out
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ServiceError("bad_file", "The CSV file must be UTF-8.") from exc
    reader = csv.DictReader(io.StringIO(text))
    reader.fieldnames = [f.strip().lower() for f in reader.fieldnames or []]
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _customer_input(row: dict) -> dict:
    body = {k: row[k] for k in CUSTOMER_COLUMNS if row.get(k, "") != ""}
    if "marketing_consent" in body:
        body["marketing_consent"] = BOOL.get(body["marketing_consent"].lower(), "invalid")
    attributes = {k[5:]: v for k, v in row.items() if k.startswith("attr_") and v != ""}
    if attributes:
        body["attributes"] = attributes
    return body


def _order_input(row: dict) -> dict:
    body = {k: row[k] for k in ("order_id", "amount", "currency", "occurred_at") if row.get(k)}
    customer = {
        k: row[f"customer_{k}"] for k in ("external_id", "email") if row.get(f"customer_{k}")
    }
    if customer:
        body["customer"] = customer
    return body


def _validate(kind: str, rows: list[dict]) -> tuple[list[tuple[int, dict]], list[dict]]:
    """(valid rows as service input, errors); each error names the file's line."""
    good, errors = [], []
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1
        if kind == ImportJob.Kind.CUSTOMERS:
            s = CustomerRowInput(data=_customer_input(row))
        else:
            s = ConversionRowInput(data=_order_input(row), backfill=True)
        if not s.is_valid():
            fields = {
                k: [str(m) for m in v] if isinstance(v, list) else [str(v)]
                for k, v in s.errors.items()
            }
            errors.append({"line": line, "fields": fields})
            continue
        v = dict(s.validated_data)
        if kind == ImportJob.Kind.ORDERS:
            customer = v.pop("customer", None) or {}
            v = {
                **v,
                "fingerprint": fingerprint({**v, "customer": customer, "backfill": True}),
                "customer_email": customer.get("email", ""),
                "customer_external_id": customer.get("external_id"),
            }
        good.append((line, v))
    return good, errors


def import_check(
    *, program: Program, kind: str, filename: str, data: bytes, actor=None
) -> ImportJob:
    """The dry run: parse and validate every row; keeps the job with its errors and a preview."""
    if len(data) > MAX_BYTES:
        raise ServiceError("file_too_large", f"At most {MAX_BYTES // (1024 * 1024)} MB per file.")
    rows = read_rows(filename, data)
    if not rows:
        raise ServiceError("empty_file", "The file has no rows under its header.")
    if len(rows) > MAX_ROWS:
        raise ServiceError("too_many_rows", f"At most {MAX_ROWS} rows per file.")
    _, errors = _validate(kind, rows)
    seen: dict[str, int] = {}
    key = "external_id" if kind == ImportJob.Kind.CUSTOMERS else "order_id"
    for index, row in enumerate(rows):
        value = row.get(key, "")
        if value and value in seen:
            errors.append({"line": index + 2, "fields": {key: [f"Repeats line {seen[value]}."]}})
        seen.setdefault(value, index + 2)
    errors.sort(key=lambda e: e["line"])
    with transaction.atomic():
        job = ImportJob.objects.create(
            program=program,
            kind=kind,
            filename=filename[:200],
            data=data,
            status=ImportJob.Status.INVALID if errors else ImportJob.Status.CHECKED,
            total=len(rows),
            errors=errors[:KEEP_ERRORS],
            preview=rows[:10],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_log(
            action=AuditAction.IMPORT_CHECKED,
            obj=job,
            program=program,
            actor=actor,
            data={"kind": kind, "filename": job.filename, "rows": len(rows), "errors": len(errors)},
        )
    return job


def import_start(*, job: ImportJob, actor=None) -> ImportJob:
    """Import a checked job: at once when small, else in Celery."""
    with transaction.atomic():
        claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.CHECKED).update(
            status=ImportJob.Status.QUEUED
        )
        if not claimed:
            raise ServiceError(
                "not_importable", "Only a checked file without errors can be imported."
            )
        audit_log(
            action=AuditAction.IMPORT_STARTED,
            obj=job,
            program=job.program,
            actor=actor,
            data={"kind": job.kind, "filename": job.filename, "rows": job.total},
        )
    return _run_or_enqueue(job)


def _run_or_enqueue(job: ImportJob) -> ImportJob:
    from . import tasks

    if job.total <= SYNC_ROWS:
        import_run(job_id=job.pk)
    else:
        with transaction.atomic():
            outbox.enqueue(tasks.import_run, job.pk)
    job.refresh_from_db()
    return job


def _lock_key(job_id: int) -> list[int]:
    return [LOCK_NAMESPACE, job_id]


def _side_connection():
    return connections.create_connection("default")


def _side_execute(sql: str, params: list) -> int:
    """A statement on a connection of its own (autocommit): visible at once, while the
    import's transaction is still open. Never touch the job row in that transaction
    before its end: the side connection would wait for it."""
    side = _side_connection()
    try:
        with side.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
    finally:
        side.close()


def _progress(job_id: int, processed: int, *, side: bool) -> None:
    """The progress bar, written beside the import's open transaction.

    SQLite has one writer at a time, and the import's transaction is it: there (and
    for an import run inside a caller's transaction) the bar shows the count once
    the import is done.
    """
    if not side:
        return
    _side_execute(
        f"UPDATE {TABLE} SET processed = %s WHERE id = %s",  # noqa: S608 - fixed name
        [processed, job_id],
    )


def import_run(*, job_id: int) -> str:
    """Import every row of the job in one transaction (all or nothing).

    On PostgreSQL the transaction holds an advisory lock named after the job from
    before the job shows "running" until its end: a running job whose lock is free
    lost its worker (``import_interrupted``), and its rows went with the rolled-back
    transaction. The job's final status commits with its rows.
    """
    # Inside a caller's transaction the job row may not be visible to another
    # connection: then no lock, no side writes (and no detection of a lost worker).
    side = connections["default"].vendor == "postgresql" and not (
        transaction.get_connection().in_atomic_block
    )
    if not side:
        # Committed before the import's transaction (unless a caller's is open): a
        # worker that dies leaves the job "running", for import_interrupted to find.
        claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
            status=ImportJob.Status.RUNNING,
            processed=0,
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
        if not claimed:
            return "not-queued"
    try:
        with transaction.atomic():
            if side:
                with connections["default"].cursor() as cursor:
                    cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _lock_key(job_id))
                    if not cursor.fetchone()[0]:
                        return "busy"  # another worker has it
                claimed = _side_execute(
                    f"UPDATE {TABLE} SET status = %s, processed = 0, started_at = %s, "  # noqa: S608
                    "attempts = attempts + 1 WHERE id = %s AND status = %s",
                    [ImportJob.Status.RUNNING, timezone.now(), job_id, ImportJob.Status.QUEUED],
                )
                if not claimed:
                    return "not-queued"
            job = ImportJob.objects.select_related("program").get(pk=job_id)
            created, updated = _import_rows(job, side=side)
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.DONE,
                processed=job.total,
                created=created,
                updated=updated,
                finished_at=timezone.now(),
            )
            _finished_audit(job, "done", created=created, updated=updated)
    except _Abort as abort:
        with transaction.atomic():
            ImportJob.objects.filter(pk=job_id).update(
                status=ImportJob.Status.FAILED,
                errors=abort.errors[:KEEP_ERRORS],
                processed=0,
                finished_at=timezone.now(),
            )
            _finished_audit(ImportJob.objects.get(pk=job_id), "failed")
        return "failed"
    return "done"


def _finished_audit(job: ImportJob, status: str, **counts) -> None:
    audit_log(
        action=AuditAction.IMPORT_FINISHED,
        obj=job,
        program=job.program,
        data={"status": status, "kind": job.kind, "rows": job.total, **counts},
    )


def _import_rows(job: ImportJob, *, side: bool) -> tuple[int, int]:
    rows = read_rows(job.filename, bytes(job.data))
    good, errors = _validate(job.kind, rows)
    if errors:
        raise _Abort(errors)
    created = updated = 0
    for start in range(0, len(good), CHUNK):
        chunk = good[start : start + CHUNK]
        if job.kind == ImportJob.Kind.CUSTOMERS:
            result = services.customers_upsert(program=job.program, rows=chunk)
            updated += result.updated
        else:
            result = services.conversions_bulk_record(
                program=job.program, rows=chunk, backfill=True
            )
            updated += result.existing
        created += result.created
        if result.errors:
            raise _Abort([{"line": e["index"], "error": e["error"]} for e in result.errors])
        _progress(job.pk, start + len(chunk), side=side)
    return created, updated


def import_interrupted(job: ImportJob) -> bool:
    """A job that shows "running" but whose worker is gone (its rows were rolled back).

    PostgreSQL: the job's advisory lock is free. SQLite (no such locks): it has been
    running for longer than the import task's time limit.
    """
    if job.status != ImportJob.Status.RUNNING:
        return False
    if connections["default"].vendor != "postgresql":
        return job.started_at is None or job.started_at < timezone.now() - RUN_LIMIT
    side = _side_connection()
    try:
        with side.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", _lock_key(job.pk))
            free = cursor.fetchone()[0]
            if free:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", _lock_key(job.pk))
        return bool(free)
    finally:
        side.close()


def import_retry(*, job: ImportJob, actor=None) -> ImportJob:
    """Run an interrupted import again, from its first row (nothing of it was kept)."""
    if not import_interrupted(job):
        raise ServiceError("not_interrupted", "Only an interrupted import can be retried.")
    with transaction.atomic():
        requeued = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.QUEUED, processed=0
        )
        if not requeued:
            raise ServiceError("not_interrupted", "Only an interrupted import can be retried.")
        audit_log(
            action=AuditAction.IMPORT_RETRIED,
            obj=job,
            program=job.program,
            actor=actor,
            data={"attempts": job.attempts},
        )
    return _run_or_enqueue(job)


class _Abort(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__("import aborted")
        self.errors = errors
