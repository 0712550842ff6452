"""Exactly once: a worker killed in the middle of the Stripe call never pays twice."""

import signal
import time

import pytest
from django.db import connection

from rewards import payouts
from rewards.ledger import balances
from rewards.models import LedgerEntry, Payout, PayoutAccount
from rewards.tasks import send_payout
from tests.rewards.test_payouts import earn
from tests.workers import start_worker, stop_worker, task_queue

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(predicate, timeout=40.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.close()  # read the workers' commits
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_during_the_transfer_does_not_pay_twice(
    require_postgres, require_broker, fake_stripe, advocate
):
    payouts.payout_account_onboarding_url(
        advocate=advocate, refresh_url="http://testserver/", return_url="http://testserver/"
    )
    account = PayoutAccount.objects.get(advocate=advocate)
    fake_stripe.onboard(account.stripe_account_id)
    payouts.payout_account_refresh(account=account)
    earn(advocate, 4200)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    assert payout.status == "pending"

    env = {
        "STRIPE_API_KEY": "sk_test_fake",
        "STRIPE_API_BASE": fake_stripe.url,
        "STRIPE_TIMEOUT_SECONDS": "60",
        # Redis hands an unacknowledged task to another worker after this long.
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_RESTORE_INTERVAL": "1",
        "CELERY_RESTORE_THROTTLE": "1",
    }
    # Stripe creates the transfer, then its answer hangs: the worker is mid-call.
    fake_stripe.hang("/v1/transfers", seconds=30, when="after")
    with task_queue() as queue:
        first = start_worker(queue, **env)
        try:
            send_payout.delay(payout.pk)
            wait_until(lambda: len(fake_stripe.transfers) == 1, what="the first transfer")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            stop_worker(first)
        payout.refresh_from_db()
        assert payout.status == "sending"
        fake_stripe.clear_failures()

        second = start_worker(queue, **env)
        try:
            wait_until(
                lambda: Payout.objects.get(pk=payout.pk).status == "paid",
                what="the redelivered task to finish the payout",
            )
        finally:
            stop_worker(second)

    payout.refresh_from_db()
    # The redelivered task looked the transfer up by its group (our payout's key)
    # and found it, so it did not even send the request a second time.
    posts = fake_stripe.requests_to("/v1/transfers", "POST")
    assert [p["idempotency_key"] for p in posts] == [payout.stripe_idempotency_key]
    lookups = fake_stripe.requests_to("/v1/transfers", "GET")
    assert [q["params"].get("transfer_group") for q in lookups] == [payout.stripe_idempotency_key]
    assert len(fake_stripe.transfers) == 1
    assert payout.stripe_transfer_id in fake_stripe.transfers
    assert payout.attempts == 2
    assert balances(advocate=advocate)["cash"]["EUR"] == {
        "pending": 0,
        "available": 0,
        "in_payout": 0,
        "paid": 4200,
    }
    assert sum(LedgerEntry.objects.values_list("amount_minor", flat=True)) == 4200
