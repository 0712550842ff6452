"""CSV/XLSX import in the admin: a dry run with errors per row, then all rows or none."""

import io

import pytest
from django.urls import reverse
from openpyxl import Workbook

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
