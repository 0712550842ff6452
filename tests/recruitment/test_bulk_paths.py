"""Bulk customers and backfilled orders: the ORM path and the COPY-staged path (PostgreSQL)
give the same counts, errors and rows.

Run on SQLite (the ORM path) and on PostgreSQL (both paths, and one against the other):
``DATABASE_URL=postgres://… pytest tests/recruitment/test_bulk_paths.py``.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from advocacy.models import AuditAction, AuditLog
from advocacy.services import advocate_enroll
from recruitment import services
from recruitment.models import Customer
from referrals.models import Conversion
from rewards.services import program_create_with_offer

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"
AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["orm", "staged"])
def path(request, monkeypatch):
    if request.param == "staged" and not POSTGRES:
        pytest.skip("the staged path is PostgreSQL's")
    if request.param == "orm":
        monkeypatch.setattr(services, "staged", lambda: False)
    return request.param


def order(n, ext="", email="", amount=2500, days=10):
    return {
        "order_id": f"o-{n}",
        "amount_minor": amount,
        "currency": "EUR",
        "fingerprint": f"fp-{n}-{amount}",
        "customer_external_id": ext or None,
        "customer_email": email,
        "occurred_at": AT - timedelta(days=days),
    }


def customers_of(program):
    return {
        c.external_id: {
            "email": c.email,
            "email_normalized": c.email_normalized,
            "name": c.name,
            "locale": c.locale,
            "marketing_consent": c.marketing_consent,
            "reviews": c.reviews,
            "review_rating": c.review_rating,
            "social_engagement": c.social_engagement,
            "attributes": c.attributes,
            "undeliverable": c.undeliverable_at is not None,
            "undeliverable_reason": c.undeliverable_reason,
            "advocate": c.advocate.email if c.advocate else None,
            "order_count": c.order_count,
            "revenue_minor": c.revenue_minor,
            "score_model": c.score_model,
            "score": c.score,
        }
        for c in Customer.objects.filter(program=program).select_related("advocate")
    }


def orders_of(program):
    return {
        c.order_id: (
            c.amount_minor,
            c.currency,
            c.customer_email,
            c.customer_email_normalized,
            c.customer_external_id,
            c.attributed,
            c.attribution_method,
            c.attribution_reason,
            c.status,
            c.source,
            c.backfill,
            c.request_fingerprint,
            c.occurred_at,
            c.refunded_minor,
        )
        for c in Conversion.objects.filter(program=program)
    }


def audits_of(program):
    ids = {str(pk): order_id for pk, order_id in program.conversions.values_list("pk", "order_id")}
    return sorted(
        (ids[a.object_id], a.object_type, a.data)
        for a in AuditLog.objects.filter(program=program, action=AuditAction.CONVERSION_RECORDED)
    )


def counts(result):
    return {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "existing": result.existing,
        "errors": result.errors,
    }


def scenario(program):
    """Two customer batches and three order batches; every result, in order."""
    advocate_enroll(program=program, email="zoe@example.com", name="Zoe")  # merchant-given
    advocate_enroll(program=program, email="x@example.com", external_id="c-3")
    out = []
    first = [
        (0, {"external_id": "c-1", "email": "Ann@Example.com", "name": "Ann", "reviews": 2,
             "review_rating": 4, "attributes": {"tier": "gold", "n": 1}}),
        (1, {"external_id": "c-2", "email": "bo+shop@example.com", "marketing_consent": True}),
        (2, {"external_id": "c-1", "email": "again@example.com"}),
        (3, {"external_id": "c-3", "email": "carl@example.com", "locale": "nb"}),
        (4, {"external_id": "c-4", "email": "zoe@example.com", "social_engagement": 40}),
    ]  # fmt: skip
    out.append(counts(services.customers_upsert(program=program, rows=first)))
    Customer.objects.filter(program=program, external_id__in=["c-2", "c-3"]).update(
        undeliverable_at=timezone.now(), undeliverable_reason="550 no such user"
    )
    second = [
        # the same values: unchanged
        (0, {"external_id": "c-1", "email": "Ann@Example.com", "name": "Ann", "reviews": 2,
             "review_rating": 4, "attributes": {"n": 1, "tier": "gold"}}),
        # a new address (normalised differently): the bounce is cleared; absent fields kept
        (1, {"external_id": "c-2", "email": "bo@example.org", "name": "Bo"}),
        # the same normalised address in another case: the bounce stays
        (2, {"external_id": "c-3", "email": "Carl@example.com", "review_rating": None}),
        (3, {"external_id": "c-5", "email": "eve@example.com", "attributes": {}}),
    ]  # fmt: skip
    out.append(counts(services.customers_upsert(program=program, rows=second)))
    out.append(
        counts(
            services.conversions_bulk_record(
                program=program,
                rows=[
                    (0, order(1, ext="c-1")),
                    (1, order(2, ext="c-1", amount=1000, days=400)),
                    (2, order(3, email="Bo@Example.org")),
                    (3, order(1, ext="c-1")),  # repeated in the batch
                    (4, order(4, ext="nobody")),
                ],
                backfill=True,
            )
        )
    )
    out.append(
        counts(
            services.conversions_bulk_record(
                program=program,
                rows=[
                    (7, order(1, ext="c-1")),  # the same again: existing
                    (8, order(2, ext="c-1", amount=999)),  # another body: a conflict
                    (9, order(5, ext="c-5", amount=4000)),
                ],
                backfill=True,
            )
        )
    )
    return out


def test_bulk_customers_and_orders_give_these_counts_errors_and_rows(program, path):
    results = scenario(program)
    assert results[0] == {
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "existing": 0,
        "errors": [
            {
                "index": 2,
                "error": {
                    "code": "duplicate_in_batch",
                    "message": "external_id 'c-1' is already in row 0 of this batch.",
                    "fields": {"external_id": ["Repeated in this batch."]},
                },
            }
        ],
    }
    assert {k: results[1][k] for k in ("created", "updated", "unchanged")} == {
        "created": 1,
        "updated": 2,
        "unchanged": 1,
    }
    assert results[2]["created"] == 4 and results[2]["existing"] == 0
    assert [e["error"]["code"] for e in results[2]["errors"]] == ["duplicate_in_batch"]
    assert results[3]["created"] == 1 and results[3]["existing"] == 1
    assert results[3]["errors"] == [
        {
            "index": 8,
            "error": {
                "code": "order_conflict",
                "message": "Order 'o-2' was already recorded with a different body.",
            },
        }
    ]
    customers = customers_of(program)
    assert customers["c-1"]["attributes"] == {"tier": "gold", "n": 1}
    assert customers["c-1"]["order_count"] == 2 and customers["c-1"]["revenue_minor"] == 3500
    assert customers["c-2"] | {"score": None} == {
        "email": "bo@example.org",
        "email_normalized": "bo@example.org",
        "name": "Bo",
        "locale": "",
        "marketing_consent": True,
        "reviews": 0,
        "review_rating": None,
        "social_engagement": 0,
        "attributes": {},
        "undeliverable": False,
        "undeliverable_reason": "",
        "advocate": None,
        "order_count": 1,
        "revenue_minor": 2500,
        "score_model": "default-v1",
        "score": None,
    }
    assert customers["c-3"]["undeliverable"] is True
    assert customers["c-3"]["email"] == "Carl@example.com"
    assert customers["c-3"]["review_rating"] is None and customers["c-3"]["locale"] == "nb"
    assert customers["c-3"]["advocate"] == "x@example.com"  # by external id
    assert customers["c-4"]["advocate"] == "zoe@example.com"  # by a verified email
    assert customers["c-5"]["order_count"] == 1
    orders = orders_of(program)
    assert sorted(orders) == ["o-1", "o-2", "o-3", "o-4", "o-5"]
    assert orders["o-2"][0] == 1000  # the conflicting body changed nothing
    assert orders["o-3"][2:5] == ("Bo@Example.org", "bo@example.org", "")
    assert {o[5:11] for o in orders.values()} == {
        (False, "none", services.BACKFILL_REASON, "completed", "api", True)
    }
    assert [order_id for order_id, _, _ in audits_of(program)] == [
        "o-1",
        "o-2",
        "o-3",
        "o-4",
        "o-5",
    ]


@pytest.mark.skipif(not POSTGRES, reason="compares the two paths on PostgreSQL")
def test_the_staged_path_writes_what_the_orm_path_writes(monkeypatch):
    staged_program, _, _ = program_create_with_offer(
        name="Staged", landing_url="https://s.example/"
    )
    orm_program, _, _ = program_create_with_offer(name="Orm", landing_url="https://o.example/")
    with CaptureQueriesContext(connection) as queries:
        staged_results = scenario(staged_program)
    staged_sql = ("recruitment_customer_stage", "recruitment_order_stage")
    assert {s for q in queries.captured_queries for s in staged_sql if s in q["sql"]} == set(
        staged_sql
    )
    monkeypatch.setattr(services, "staged", lambda: False)
    with CaptureQueriesContext(connection) as queries:
        orm_results = scenario(orm_program)
    assert not any(s in q["sql"] for q in queries.captured_queries for s in staged_sql)
    assert staged_results == orm_results
    assert customers_of(staged_program) == customers_of(orm_program)
    assert orders_of(staged_program) == orders_of(orm_program)
    assert audits_of(staged_program) == audits_of(orm_program)


def test_a_batch_with_a_row_the_database_refuses_writes_none_of_it(program, path):
    services.customers_upsert(
        program=program, rows=[(0, {"external_id": "c-1", "email": "a@example.com"})]
    )
    rows = [
        (0, {"external_id": "c-1", "email": "changed@example.com"}),
        (1, {"external_id": "c-2", "email": "b@example.com"}),
        (2, {"external_id": "c-3", "email": "c@example.com", "review_rating": 9}),
    ]
    with pytest.raises(IntegrityError):
        services.customers_upsert(program=program, rows=rows)
    assert list(Customer.objects.filter(program=program).values_list("external_id", "email")) == [
        ("c-1", "a@example.com")
    ]


def test_backfilled_orders_sent_twice_are_recorded_once(program, path):
    rows = [(i, order(i, ext=f"c-{i % 3}")) for i in range(50)]
    first = services.conversions_bulk_record(program=program, rows=rows, backfill=True)
    again = services.conversions_bulk_record(program=program, rows=rows, backfill=True)
    assert (first.created, first.existing, again.created, again.existing) == (50, 0, 0, 50)
    assert program.conversions.count() == 50
    assert len(audits_of(program)) == 50
