"""CSV/XLSX import of customers and backfilled orders, from the admin.

1. **Check** (dry run): every row is parsed and validated with the API's own
   row serializers; the job keeps the errors per row (line numbers as in the
   file) and a preview. Nothing is written but the job.
2. **Import**, only when no row has an error: all rows through the same
   services as ``POST /api/v1/customers/bulk`` and ``POST
   /api/v1/conversions/bulk`` with backfill, in **one transaction**: a failure
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
from datetime import UTC, datetime

from django.db import connections, transaction
from django.utils import timezone

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
    return ImportJob.objects.create(
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


def import_start(*, job: ImportJob) -> ImportJob:
    """Import a checked job: at once when small, else in Celery."""
    from . import tasks

    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.CHECKED).update(
        status=ImportJob.Status.QUEUED
    )
    if not claimed:
        raise ServiceError("not_importable", "Only a checked file without errors can be imported.")
    if job.total <= SYNC_ROWS:
        import_run(job_id=job.pk)
    else:
        with transaction.atomic():
            outbox.enqueue(tasks.import_run, job.pk)
    job.refresh_from_db()
    return job


def _progress(job_id: int, processed: int) -> None:
    """Written on a connection of its own: visible while the import's transaction is open.

    SQLite has one writer at a time, and the import's transaction is it: there the
    bar shows the count once the import is done.
    """
    if connections["default"].vendor == "sqlite":
        return
    side = connections.create_connection("default")
    try:
        with side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ImportJob._meta.db_table} SET processed = %s WHERE id = %s",  # noqa: S608
                [processed, job_id],
            )
    finally:
        side.close()


def import_run(*, job_id: int) -> str:
    """Import every row of the job in one transaction (all or nothing)."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, processed=0
    )
    if not claimed:
        return "not-queued"
    job = ImportJob.objects.select_related("program").get(pk=job_id)
    rows = read_rows(job.filename, bytes(job.data))
    good, errors = _validate(job.kind, rows)
    created = updated = 0
    try:
        with transaction.atomic():
            if errors:
                raise _Abort(errors)
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
                _progress(job.pk, start + len(chunk))
    except _Abort as abort:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            errors=abort.errors[:KEEP_ERRORS],
            processed=0,
            finished_at=timezone.now(),
        )
        return "failed"
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.DONE,
        processed=len(good),
        created=created,
        updated=updated,
        finished_at=timezone.now(),
    )
    return "done"


class _Abort(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__("import aborted")
        self.errors = errors
