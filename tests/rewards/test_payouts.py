"""Stripe Connect payouts against the local fake Stripe, with the real SDK."""

import csv
import io
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from rewards import payouts
from rewards.ledger import balances
from rewards.models import LedgerEntry, Payout, PayoutAccount, Reward
from rewards.services import reward_issue, reward_mature


def earn(advocate, amount_minor, currency="EUR"):
    reward = reward_issue(
        program=advocate.program,
        advocate=advocate,
        key=f"earn-{advocate.pk}-{Reward.objects.count()}",
        reason="test",
        amount_minor=amount_minor,
        currency=currency,
        hold_days=0,
    )
    reward_mature(reward_id=reward.pk)
    return reward


@pytest.fixture
def connected(fake_stripe, advocate):
    """Alice has gone through Stripe's onboarding."""
    url = payouts.payout_account_onboarding_url(
        advocate=advocate, refresh_url="http://testserver/", return_url="http://testserver/back"
    )
    account = PayoutAccount.objects.get(advocate=advocate)
    assert url.startswith(fake_stripe.url)
    assert account.payouts_enabled is False
    fake_stripe.onboard(account.stripe_account_id)
    payouts.payout_account_refresh(account=account)
    account.refresh_from_db()
    assert account.payouts_enabled is True
    return account


def run_payouts(**kwargs):
    out = StringIO()
    call_command("run_payouts", stdout=out, **kwargs)
    return json.loads(out.getvalue())


def transfers(fake):
    return list(fake.transfers.values())


def test_available_cash_above_the_minimum_is_paid_once(fake_stripe, connected, advocate):
    earn(advocate, 1500)
    earn(advocate, 1000)
    assert run_payouts() == {"created": 1, "sent": 1, "awaiting_approval": 0, "failed": 0}
    payout = Payout.objects.get()
    assert (payout.status, payout.amount_minor, payout.attempts) == ("paid", 2500, 1)
    [transfer] = transfers(fake_stripe)
    assert transfer["amount"] == 2500
    assert transfer["destination"] == connected.stripe_account_id
    assert transfer["metadata"]["payout_id"] == str(payout.pk)
    assert payout.stripe_transfer_id == transfer["id"]
    assert balances(advocate=advocate)["cash"]["EUR"] == {
        "pending": 0,
        "available": 0,
        "paid": 2500,
        "in_payout": 0,
    }
    assert set(Reward.objects.values_list("status", flat=True)) == {"paid"}
    # Running again finds nothing to pay and sends nothing.
    assert run_payouts() == {"created": 0, "sent": 0, "awaiting_approval": 0, "failed": 0}
    assert len(transfers(fake_stripe)) == 1


def test_the_advocate_is_emailed_when_a_payout_is_sent(
    fake_stripe, connected, advocate, django_capture_on_commit_callbacks
):
    earn(advocate, 3000)
    with django_capture_on_commit_callbacks(execute=True):
        run_payouts()
    assert [m.subject for m in mail.outbox] == ["We sent you 30.00 EUR"]
    assert mail.outbox[0].to == ["alice@example.com"]


def test_cash_below_the_minimum_waits(fake_stripe, connected, advocate, program):
    earn(advocate, program.min_payout_minor - 1)
    assert run_payouts()["created"] == 0
    assert transfers(fake_stripe) == []


def test_no_payout_without_a_connected_account(fake_stripe, advocate):
    earn(advocate, 5000)
    assert run_payouts()["created"] == 0


def test_a_large_payout_waits_for_approval(
    fake_stripe, connected, advocate, program, django_capture_on_commit_callbacks
):
    program.payout_approval_above_minor = 10000
    program.save()
    earn(advocate, 25000)
    assert run_payouts() == {"created": 1, "sent": 0, "awaiting_approval": 1, "failed": 0}
    assert transfers(fake_stripe) == []
    payout = Payout.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert payouts.payout_approve(payout_id=payout.pk) is True
    assert payouts.payout_approve(payout_id=payout.pk) is False
    payout.refresh_from_db()
    assert payout.status == "paid"
    assert len(transfers(fake_stripe)) == 1


def test_a_permanent_failure_returns_the_money(fake_stripe, connected, advocate):
    earn(advocate, 4000)
    fake_stripe.fail("/v1/transfers", status=400, type="invalid_request_error",
                     code="account_invalid", message="The account is closed.")  # fmt: skip
    assert run_payouts() == {"created": 1, "sent": 0, "awaiting_approval": 0, "failed": 1}
    payout = Payout.objects.get()
    assert payout.status == "failed"
    assert "account_invalid" in payout.failure_reason
    assert balances(advocate=advocate)["cash"]["EUR"]["available"] == 4000
    # The returned money is paid by the next run.
    assert run_payouts()["sent"] == 1
    assert len(transfers(fake_stripe)) == 1


def test_a_transient_failure_is_retried_with_the_same_key(fake_stripe, connected, advocate):
    earn(advocate, 4000)
    fake_stripe.fail("/v1/transfers", status=500, type="api_error", times=2)
    # The task retries (in-process here, at once; with a worker, after a backoff).
    assert run_payouts()["failed"] == 0
    payout = Payout.objects.get()
    assert (payout.status, payout.attempts) == ("paid", 3)
    keys = {r["idempotency_key"] for r in fake_stripe.requests_to("/v1/transfers", "POST")}
    assert keys == {payout.stripe_idempotency_key}
    assert len(transfers(fake_stripe)) == 1
    assert balances(advocate=advocate)["cash"]["EUR"]["paid"] == 4000


def test_stripe_answering_too_late_does_not_pay_twice(fake_stripe, connected, advocate):
    earn(advocate, 4000)
    # Stripe makes the transfer, then its answer never arrives (our 1 s timeout in tests).
    fake_stripe.hang("/v1/transfers", seconds=3, when="after")
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    with pytest.raises(payouts.TransientPayoutError):
        payouts.payout_execute(payout_id=payout.pk)
    fake_stripe.clear_failures()
    payout.refresh_from_db()
    assert payout.status == "sending"
    assert len(transfers(fake_stripe)) == 1
    # The retry replays the same idempotency key and gets the same transfer.
    assert payouts.payout_execute(payout_id=payout.pk) == "paid"
    assert len(transfers(fake_stripe)) == 1


def test_a_retry_after_stripe_forgot_the_key_finds_the_first_transfer(
    fake_stripe, connected, advocate
):
    earn(advocate, 4000)
    fake_stripe.hang("/v1/transfers", seconds=3, when="after")
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    with pytest.raises(payouts.TransientPayoutError):
        payouts.payout_execute(payout_id=payout.pk)
    fake_stripe.clear_failures()
    fake_stripe._idem.clear()  # Stripe keeps idempotency keys for 24 hours only
    assert payouts.payout_execute(payout_id=payout.pk) == "paid"
    assert len(transfers(fake_stripe)) == 1
    payout.refresh_from_db()
    assert payout.stripe_transfer_id == next(iter(fake_stripe.transfers))


def test_stripe_switched_off_fails_the_payout_with_a_clear_reason(
    fake_stripe, connected, advocate, settings
):
    earn(advocate, 4000)
    settings.STRIPE_API_KEY = ""
    run_payouts()
    payout = Payout.objects.get()
    assert payout.status == "failed"
    assert "STRIPE_API_KEY" in payout.failure_reason


def test_a_clawback_after_payout_is_carried_as_a_negative_balance(
    fake_stripe, connected, advocate, api, link
):
    api.post(
        "/api/v1/conversions",
        {"order_id": "P-1", "amount": "50.00", "currency": "EUR", "referral_code": link.code,
         "customer": {"email": "f@example.com"}},
        format="json",
    )  # fmt: skip
    reward = Reward.objects.get(recipient="advocate")
    Reward.objects.filter(pk=reward.pk).update(available_at=reward.created_at)
    reward_mature(reward_id=reward.pk)
    earn(advocate, 1500)
    run_payouts()
    api.post("/api/v1/conversions/P-1/refunds", {}, format="json")
    cash = balances(advocate=advocate)["cash"]["EUR"]
    assert (cash["paid"], cash["available"]) == (2500, -1000)
    assert LedgerEntry.objects.filter(kind="clawback").get().amount_minor == -1000
    earn(advocate, 3500)  # netted against the debt
    assert run_payouts()["created"] == 1
    assert Payout.objects.order_by("-pk")[0].amount_minor == 2500


def test_payouts_export_as_csv_from_the_admin(fake_stripe, connected, advocate, admin_client):
    earn(advocate, 4000)
    run_payouts()
    payout = Payout.objects.get()
    response = admin_client.post(
        "/admin/rewards/payout/",
        {"action": "export_csv", "_selected_action": [payout.pk]},
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["amount_minor"] == "4000"
    assert rows[0]["stripe_transfer_id"] == payout.stripe_transfer_id


@pytest.mark.django_db(transaction=True)
def test_concurrent_payout_runs_pay_once(require_postgres, fake_stripe, connected, advocate):
    import threading

    from django.db import connection

    earn(advocate, 4000)
    barrier = threading.Barrier(4)

    def go():
        try:
            barrier.wait(timeout=30)
            payouts.payouts_run()
        finally:
            connection.close()

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Payout.objects.count() == 1
    assert Payout.objects.get().status == "paid"
    assert len(transfers(fake_stripe)) == 1


def test_a_payout_marks_paid_only_the_rewards_whose_money_it_holds(
    fake_stripe, connected, advocate
):
    first = earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    later = earn(advocate, 2500)  # became available after the payout was made
    assert list(payout.rewards.all()) == [first]
    assert payouts.payout_execute(payout_id=payout.pk) == "paid"
    first.refresh_from_db()
    later.refresh_from_db()
    assert (first.status, later.status) == ("paid", "available")
    assert balances(advocate=advocate)["cash"]["EUR"] == {
        "pending": 0,
        "available": 2500,
        "paid": 4000,
        "in_payout": 0,
    }
    # The next payout takes the later reward.
    assert run_payouts()["sent"] == 1
    later.refresh_from_db()
    assert later.status == "paid"


def test_a_failed_payout_gives_its_rewards_back_to_the_next_one(fake_stripe, connected, advocate):
    reward = earn(advocate, 4000)
    fake_stripe.fail("/v1/transfers", status=400, type="invalid_request_error", times=1)
    assert run_payouts()["failed"] == 1
    reward.refresh_from_db()
    assert (reward.status, reward.payout_id) == ("available", None)
    assert run_payouts()["sent"] == 1
    reward.refresh_from_db()
    assert reward.status == "paid"
    assert reward.payout.status == "paid"


def test_a_payout_left_sending_by_a_dead_worker_is_resent_by_beat(
    fake_stripe, connected, advocate, time_machine
):
    from django.utils import timezone

    from rewards.tasks import resend_payouts

    earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    Payout.objects.filter(pk=payout.pk).update(status="sending", attempts=1)  # died mid-call
    assert resend_payouts.delay().get() == 0  # it may still be working on it
    time_machine.move_to(timezone.now() + payouts.STALE_SENDING + timedelta(seconds=1))
    assert resend_payouts.delay().get() == 1
    payout.refresh_from_db()
    assert payout.status == "paid"
    assert len(transfers(fake_stripe)) == 1
