"""Customers and advocates find each other; the default score and its reasons; segments."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from advocacy.services import advocate_enroll
from core.errors import ServiceError
from recruitment import scoring, selectors, services
from recruitment.models import Customer, RecruitmentSettings, Segment
from referrals import services as referral_services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def upsert(program, *rows):
    return services.customers_upsert(program=program, rows=list(enumerate(rows)))


def row(ext, email, **extra):
    return {"external_id": ext, "email": email, **extra}


def backfill(program, order_id, ext, amount_minor, days_ago):
    referral_services.conversion_record(
        program=program,
        order_id=order_id,
        amount_minor=amount_minor,
        currency="EUR",
        fingerprint=order_id,
        customer_external_id=ext,
        occurred_at=timezone.now() - timedelta(days=days_ago),
        backfill=True,
    )


def test_a_customer_upserted_after_the_advocate_links_by_external_id(program, advocate):
    upsert(program, row("cust-alice", "other-address@example.com"))
    assert Customer.objects.get().advocate == advocate


def test_an_advocate_enrolled_after_the_customer_links_by_email(program):
    upsert(program, row("c-1", "Bob@Example.com"))
    bob, _ = advocate_enroll(program=program, email="bob@example.com")
    assert Customer.objects.get().advocate == bob


def test_an_unverified_account_email_does_not_link(program):
    user = UserFactory(email="mallory@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    advocate_enroll(program=program, email="mallory@example.com", user=user)
    upsert(program, row("c-1", "mallory@example.com"))
    assert Customer.objects.get().advocate is None


def test_a_verified_account_email_links(program):
    user = UserFactory(email="vera@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    vera, _ = advocate_enroll(program=program, email="vera@example.com", user=user)
    upsert(program, row("c-1", "vera@example.com"))
    assert Customer.objects.get().advocate == vera


def test_links_stay_inside_the_program(program, other_program):
    upsert(program, row("c-1", "carol@example.com"))
    advocate_enroll(program=other_program[0], email="carol@example.com")
    assert Customer.objects.get().advocate is None


def test_score_grows_with_recent_frequent_valuable_orders_and_says_why(program):
    upsert(program, row("loyal", "loyal@example.com"), row("once", "once@example.com"))
    for i in range(6):
        backfill(program, f"l-{i}", "loyal", 20000, days_ago=5 + i * 30)
    backfill(program, "o-1", "once", 1000, days_ago=300)
    ids = list(Customer.objects.values_list("pk", flat=True))
    scoring.customers_rescore(program=program, customer_ids=ids)
    loyal, once = (
        Customer.objects.get(external_id="loyal"),
        Customer.objects.get(external_id="once"),
    )
    assert loyal.score > once.score
    assert loyal.order_count == 6 and loyal.revenue_minor == 120000
    assert loyal.score_reasons[0].startswith(("recency", "frequency"))
    assert any("last order 5 days ago" in r for r in loyal.score_reasons)
    assert any("1 order" in r for r in once.score_reasons)


def test_weights_are_per_program_and_a_promoter_outranks_with_nps_weight_alone(program):
    upsert(program, row("a", "a@example.com"), row("b", "b@example.com"))
    services.nps_record(program=program, score=10, customer_external_id="a")
    services.nps_record(program=program, score=2, customer_external_id="b")
    RecruitmentSettings.objects.update_or_create(
        program=program,
        defaults=dict(
            weight_recency=0,
            weight_frequency=0,
            weight_monetary=0,
            weight_reviews=0,
            weight_social=0,
            weight_referrals=0,
            weight_nps=1,
        ),
    )
    scoring.customers_rescore(
        program=program, customer_ids=list(Customer.objects.values_list("pk", flat=True))
    )
    assert Customer.objects.get(external_id="a").score == 100
    assert Customer.objects.get(external_id="b").score == 20
    assert Customer.objects.get(external_id="a").score_reasons == ["nps +100: NPS answer 10"]


def test_fully_refunded_orders_do_not_count(program):
    upsert(program, row("r", "r@example.com"))
    backfill(program, "r-1", "r", 5000, days_ago=3)
    referral_services.conversion_refund(program=program, order_id="r-1")
    scoring.customers_rescore(
        program=program, customer_ids=list(Customer.objects.values_list("pk", flat=True))
    )
    assert Customer.objects.get().order_count == 0


def test_segment_filters_on_score_nps_orders_consent_and_advocacy(program, advocate):
    upsert(
        program,
        row("cust-alice", "alice@example.com", marketing_consent=True),
        row("p", "p@example.com", marketing_consent=True),
        row("d", "d@example.com", marketing_consent=False),
        row("n", "n@shop.test", marketing_consent=True, locale="nb"),
    )
    services.nps_record(program=program, score=9, customer_external_id="p")
    services.nps_record(program=program, score=4, customer_external_id="d")
    backfill(program, "p-1", "p", 10000, days_ago=10)
    backfill(program, "p-2", "p", 10000, days_ago=400)
    scoring.customers_rescore(
        program=program, customer_ids=list(Customer.objects.values_list("pk", flat=True))
    )

    def ext(filters):
        segment = Segment(program=program, name="s", slug="s", filters=filters)
        return sorted(selectors.segment_customers(segment).values_list("external_id", flat=True))

    assert ext({"nps": ["promoter"]}) == ["p"]
    assert ext({"nps": ["none"]}) == ["cust-alice", "n"]
    assert ext({"orders_min": 2, "revenue_min": "150.00"}) == ["p"]
    assert ext({"last_order_within_days": 30}) == ["p"]
    assert ext({"marketing_consent": False}) == ["d"]
    assert ext({"advocate": True}) == ["cust-alice"]
    assert ext({"advocate": False, "marketing_consent": True}) == ["n", "p"]
    assert ext({"locale": ["nb"], "email_domain": "shop.test"}) == ["n"]
    top = Customer.objects.get(external_id="p").score
    assert ext({"score_min": top}) == ["p"]
    with pytest.raises(ServiceError):
        ext({"bogus": 1})
    with pytest.raises(ServiceError):
        ext({"orders_min": "two"})
