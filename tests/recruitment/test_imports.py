"""CSV/XLSX import in the admin: a dry run with errors per row, then all rows or none."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from advocacy.models import AuditAction, AuditLog
from recruitment import imports
from recruitment.models import Customer, ImportJob
from referrals.models import Conversion

from .test_admin import staff

pytestmark = pytest.mark.django_db

CUSTOMERS_CSV = (
    "external_id,email,name,marketing_consent,review_rating,attr_tier\n"
    "c-1,c1@example.com,Cleo,yes,5,gold\n"
    "c-2,c2@example.com,Dag,no,,\n"
)


def test_a_valid_csv_is_checked_then_imported_whole(program):
    job = imports.import_check(
        program=program, kind="customers", filename="c.csv", data=CUSTOMERS_CSV.encode()
    )
    assert (job.status, job.total, job.errors) == ("checked", 2, [])
    assert not Customer.objects.exists()  # the dry run writes nothing
    job = imports.import_start(job=job)
    assert (job.status, job.created, job.processed) == ("done", 2, 2)
    cleo = Customer.objects.get(external_id="c-1")
    assert cleo.marketing_consent and cleo.attributes == {"tier": "gold"} and cleo.score is not None
    with pytest.raises(imports.ServiceError):
        imports.import_start(job=job)  # once


def test_a_file_with_a_bad_row_reports_its_line_and_imports_nothing(program):
    data = CUSTOMERS_CSV + "c-3,not-an-email,X,yes,9,\nc-1,again@example.com,,,,\n"
    job = imports.import_check(
        program=program, kind="customers", filename="c.csv", data=data.encode()
    )
    assert job.status == "invalid"
    assert [e["line"] for e in job.errors] == [4, 5]
    assert {"email", "review_rating"} <= {k for e in job.errors for k in e["fields"]}
    with pytest.raises(imports.ServiceError):
        imports.import_start(job=job)
    assert not Customer.objects.exists()


def test_backfilled_orders_from_xlsx(program):
    book = Workbook()
    sheet = book.active
    sheet.append(["order_id", "amount", "currency", "customer_external_id", "occurred_at"])
    sheet.append(["o-1", "19.90", "EUR", "c-1", "2026-01-05T10:00:00Z"])
    sheet.append(["o-2", "5.00", "EUR", "c-1", "2026-02-05T10:00:00Z"])
    buf = io.BytesIO()
    book.save(buf)
    job = imports.import_check(
        program=program, kind="orders", filename="o.xlsx", data=buf.getvalue()
    )
    assert job.status == "checked", job.errors
    imports.import_start(job=job)
    assert set(Conversion.objects.values_list("order_id", "backfill", "attributed")) == {
        ("o-1", True, False),
        ("o-2", True, False),
    }


def test_a_failure_while_importing_leaves_nothing_half_imported(program, monkeypatch):
    rows = "external_id,email\n" + "".join(f"c-{i},c{i}@example.com\n" for i in range(2500))
    job = imports.import_check(
        program=program, kind="customers", filename="c.csv", data=rows.encode()
    )
    real = imports.services.customers_upsert
    calls = []

    def fail_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(imports.services, "customers_upsert", fail_second_chunk)
    ImportJob.objects.filter(pk=job.pk).update(status="queued")
    with pytest.raises(RuntimeError):
        imports.import_run(job_id=job.pk)
    assert not Customer.objects.exists()


def test_the_admin_upload_previews_then_imports(
    client, program, django_capture_on_commit_callbacks
):
    client.force_login(staff("alice", program))
    upload = io.BytesIO(CUSTOMERS_CSV.encode())
    upload.name = "customers.csv"
    resp = client.post(
        reverse("admin:recruitment_importjob_add"),
        {"program": program.pk, "kind": "customers", "file": upload},
    )
    assert resp.status_code == 302, resp.content
    job = ImportJob.objects.get()
    page = client.get(reverse("admin:recruitment_importjob_change", args=[job.pk])).content.decode()
    assert "Cleo" in page and "Import 2 rows" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:recruitment_importjob_start", args=[job.pk]))
    assert Customer.objects.count() == 2


class WorkerKilled(BaseException):
    """Like SIGKILL: no ``except Exception`` sees it, the transaction just ends."""


def test_an_import_whose_worker_died_is_found_and_retried_whole_from_the_admin(
    client, program, monkeypatch, django_capture_on_commit_callbacks
):
    rows = "external_id,email\n" + "".join(f"c-{i},c{i}@example.com\n" for i in range(2500))
    job = imports.import_check(
        program=program, kind="customers", filename="c.csv", data=rows.encode()
    )
    real = imports.services.customers_upsert
    calls = []

    def killed_in_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise WorkerKilled
        return real(**kwargs)

    monkeypatch.setattr(imports.services, "customers_upsert", killed_in_second_chunk)
    ImportJob.objects.filter(pk=job.pk).update(status="queued")
    with pytest.raises(WorkerKilled):
        imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 1
    assert not Customer.objects.exists()  # the first chunk went with the transaction
    monkeypatch.setattr(imports.services, "customers_upsert", real)

    client.force_login(staff("alice", program))
    later = timezone.now() + imports.RUN_LIMIT + timedelta(minutes=1)
    with time_machine.travel(later):
        assert imports.import_interrupted(job)
        page = client.get(reverse("admin:recruitment_importjob_change", args=[job.pk]))
        assert "Retry the import" in page.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("admin:recruitment_importjob_retry", args=[job.pk]))
    job.refresh_from_db()
    assert (job.status, job.attempts, job.created) == ("done", 2, 2500)
    assert Customer.objects.count() == 2500
    assert AuditLog.objects.filter(
        action=AuditAction.IMPORT_RETRIED, object_id=str(job.pk)
    ).exists()
    with pytest.raises(imports.ServiceError):
        imports.import_retry(job=job)  # done: nothing to retry


def test_a_running_import_is_not_taken_for_an_interrupted_one(program):
    job = imports.import_check(
        program=program, kind="customers", filename="c.csv", data=CUSTOMERS_CSV.encode()
    )
    ImportJob.objects.filter(pk=job.pk).update(status="running", started_at=timezone.now())
    job.refresh_from_db()
    if connection.vendor == "postgresql":
        # A live worker's transaction holds the job's advisory lock.
        holder = connections.create_connection("default")
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", imports._lock_key(job.pk))
        try:
            assert not imports.import_interrupted(job)
        finally:
            holder.close()
    else:
        assert not imports.import_interrupted(job)
        with pytest.raises(imports.ServiceError):
            imports.import_retry(job=job)


def test_imports_are_audited(program):
    job = imports.import_check(
        program=program, kind="customers", filename="c.csv", data=CUSTOMERS_CSV.encode()
    )
    imports.import_start(job=job)
    actions = list(
        AuditLog.objects.filter(object_id=str(job.pk), object_type="recruitment.importjob")
        .order_by("pk")
        .values_list("action", "data__status")
    )
    assert actions == [
        (AuditAction.IMPORT_CHECKED, None),
        (AuditAction.IMPORT_STARTED, None),
        (AuditAction.IMPORT_FINISHED, "done"),
    ]


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_worker_s_import_holds_its_lock_and_commits_its_status_with_its_rows(
    require_postgres, program, monkeypatch
):
    rows = "external_id,email\n" + "".join(f"c-{i},c{i}@example.com\n" for i in range(2500))
    job = imports.import_check(
        program=program, kind="customers", filename="c.csv", data=rows.encode()
    )
    ImportJob.objects.filter(pk=job.pk).update(status="queued")
    seen = []
    real = imports._progress

    def progress(job_id, processed, *, side):
        # Mid-import, from outside: "running", the progress moving, the lock held.
        real(job_id, processed, side=side)
        outside = ImportJob.objects.using("default").get(pk=job_id)
        seen.append((side, outside.status, imports.import_interrupted(outside)))

    monkeypatch.setattr(imports, "_progress", progress)
    assert imports.import_run(job_id=job.pk) == "done"
    assert seen and all(s == (True, "running", False) for s in seen)
    job.refresh_from_db()
    assert (job.status, job.processed, job.created, job.attempts) == ("done", 2500, 2500, 1)
    assert Customer.objects.count() == 2500
