"""Concurrency on real PostgreSQL: many identical requests, one result."""

import contextlib
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from referrals.models import Conversion, Referral
from rewards.models import LedgerEntry, Reward, RewardDecision

pytestmark = pytest.mark.django_db(transaction=True)


def _hammer(n: int, request) -> list:
    """Run ``request()`` from ``n`` threads released at the same moment."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def worker(i):
        try:
            barrier.wait(timeout=30)
            results[i] = request()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_fifty_concurrent_identical_conversions_make_one_conversion_and_one_reward(
    require_postgres, secret_key, link
):
    body = {
        "order_id": "RACE-1",
        "amount": "99.00",
        "currency": "EUR",
        "customer": {"email": "racer@example.com"},
        "referral_code": link.code,
    }

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
        return client.post("/api/v1/conversions", body, format="json")

    responses = _hammer(50, post)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Conversion.objects.count() == 1
    assert Referral.objects.count() == 1
    assert Reward.objects.count() == 1
    assert LedgerEntry.objects.count() == 1


def test_concurrent_conversions_with_one_idempotency_key_make_one_conversion(
    require_postgres, secret_key, link
):
    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
        return client.post(
            "/api/v1/conversions",
            {
                "order_id": "RACE-2",
                "amount": "10.00",
                "currency": "EUR",
                "referral_code": link.code,
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="key-race-2",
        )

    responses = _hammer(20, post)
    assert {r.status_code for r in responses} <= {200, 201}
    assert sum(r.status_code == 201 for r in responses) == 1
    assert Conversion.objects.count() == 1
    assert Reward.objects.count() == 1


def test_concurrent_full_refunds_reverse_the_reward_once(require_postgres, secret_key, link):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    created = client.post(
        "/api/v1/conversions",
        {
            "order_id": "RACE-3",
            "amount": "30.00",
            "currency": "EUR",
            "customer": {"email": "r3@example.com"},
            "referral_code": link.code,
        },
        format="json",
    )
    assert created.status_code == 201

    def refund():
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
        return c.post("/api/v1/conversions/RACE-3/refunds", {}, format="json")

    responses = _hammer(20, refund)
    assert sum(r.status_code == 201 for r in responses) == 1
    assert {r.status_code for r in responses} == {200, 201}
    reversals = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REWARD_REVERSED)
    assert [e.amount_minor for e in reversals] == [-1000]
    assert sum(LedgerEntry.objects.values_list("amount_minor", flat=True)) == 0


def test_concurrent_enrollments_of_one_email_make_one_advocate(require_postgres, secret_key):
    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
        return client.post("/api/v1/advocates", {"email": "same@example.com"}, format="json")

    responses = _hammer(20, post)
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.json()["referral_code"] for r in responses}) == 1


def test_two_first_orders_of_one_friend_at_once_earn_one_first_purchase_reward(
    require_postgres, secret_key, link
):
    """Both may count as the friend's first purchase; the reward is still given once."""
    signup = APIClient()
    signup.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    for attempt in range(5):
        email = f"twin-{attempt}@example.com"
        # The friend signed up first: both orders find their referral not converted yet.
        signup.post(
            "/api/v1/referrals",
            {"referral_code": link.code, "friend": {"email": email}},
            format="json",
        )

        def post(i, email=email, attempt=attempt):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
            return client.post(
                "/api/v1/conversions",
                {
                    "order_id": f"TWIN-{attempt}-{i}",
                    "amount": "40.00",
                    "currency": "EUR",
                    "customer": {"email": email},
                    "referral_code": link.code,
                },
                format="json",
            )

        barrier = threading.Barrier(2)
        results: list = [None, None]

        def run(i, barrier=barrier, results=results):
            try:
                barrier.wait(timeout=30)
                results[i] = post(i)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(r.status_code for r in results) == [201, 201]
        first = Reward.objects.filter(
            conversion__customer_email=email, recipient="advocate", rule__trigger="first_purchase"
        )
        assert first.count() == 1, [r.json() for r in results]


def test_concurrent_rewards_of_different_advocates_never_exceed_the_monthly_budget(
    require_postgres, secret_key, program
):
    """Ten advocates' friends buy at once; the budget has room for one reward. The
    advocates' own locks do not serialise them: the program's row lock does."""
    from tests.factories import enroll

    program.monthly_budget_minor = 1000
    program.save()
    codes = [enroll(program, f"adv{i}@example.com").links.get().code for i in range(10)]

    def post(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
        body = {
            "order_id": f"BUDGET-{i}",
            "amount": "50.00",
            "currency": "EUR",
            "customer": {"email": f"friend{i}@example.com"},
            "referral_code": codes[i],
        }
        return client.post("/api/v1/conversions", body, format="json")

    counter = iter(range(10))
    responses = _hammer(10, lambda: post(next(counter)))
    assert sorted(r.status_code for r in responses) == [201] * 10
    cash = Reward.objects.filter(recipient="advocate", kind="cash")
    assert list(cash.values_list("amount_minor", flat=True)) == [1000]


def _meet_inside(monkeypatch, module, name: str, parties: int = 2, wait: float = 3.0):
    """Hold each caller of ``module.name`` until ``parties`` of them are inside it, or
    ``wait`` seconds have passed: the worst interleaving, on purpose. A lock taken
    before the call lets one caller in at a time; the first waits out ``wait`` alone."""
    barrier = threading.Barrier(parties)
    real = getattr(module, name)

    def meet(*args, **kwargs):
        # Alone in there after ``wait``: the others wait for a lock this caller holds.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=wait)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, meet)


def test_two_orders_of_one_advocate_at_once_cannot_both_take_the_last_reward_of_a_limit(
    require_postgres, secret_key, program, link, monkeypatch
):
    """Two friends of one advocate buy at once; the rule pays the advocate once in
    total. Both count the rule's rewards at the same moment unless the advocate's row
    lock (``rules_apply``) makes the second wait for the first to commit."""
    from rewards import rules
    from tests.rewards.test_rules import rule

    program.reward_rules.all().delete()
    rule(program, amount_minor=500, limit_lifetime=1)
    _meet_inside(monkeypatch, rules, "_check_limits")

    def post(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
        body = {
            "order_id": f"LIMIT-{i}",
            "amount": "50.00",
            "currency": "EUR",
            "customer": {"email": f"limit-friend{i}@example.com"},
            "referral_code": link.code,
        }
        return client.post("/api/v1/conversions", body, format="json")

    counter = iter(range(2))
    responses = _hammer(2, lambda: post(next(counter)))
    assert sorted(r.status_code for r in responses) == [201, 201]
    assert list(Reward.objects.values_list("amount_minor", flat=True)) == [500]
    skipped = RewardDecision.objects.filter(outcome="skipped").values_list("reason", flat=True)
    assert list(skipped) == ["limit of 1 rewards in total reached"]


def test_two_orders_claiming_one_unverified_sign_up_at_once_earn_one_first_purchase_reward(
    require_postgres, secret_key, link, monkeypatch
):
    """The friend signed up from the browser (unverified); two orders naming the
    advocate arrive at once and both take the claim over. Each of them then finds the
    referral signed up and converts it, so both count as the friend's first purchase:
    the first-purchase reward's key, one per friend (``rewards.rules._apply``), still
    gives the advocate one reward, not one per order."""
    from referrals import services as referral_services

    referral_services.referral_create(
        program=link.program,
        friend_email="claimed@example.com",
        referral_code=link.code,
        from_browser=True,
    )
    _meet_inside(monkeypatch, referral_services, "_referral_for_conversion")

    def post(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
        body = {
            "order_id": f"CLAIM-{i}",
            "amount": "40.00",
            "currency": "EUR",
            "customer": {"email": "claimed@example.com"},
            "referral_code": link.code,
        }
        return client.post("/api/v1/conversions", body, format="json")

    counter = iter(range(2))
    responses = _hammer(2, lambda: post(next(counter)))
    assert sorted(r.status_code for r in responses) == [201, 201]
    referral = Referral.objects.get()
    assert (referral.status, referral.verified) == (Referral.Status.CONVERTED, True)
    first = Reward.objects.filter(recipient="advocate", rule__trigger="first_purchase")
    assert [(r.referral_id, r.amount_minor) for r in first] == [(referral.pk, 1000)]
