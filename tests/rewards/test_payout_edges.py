"""Payouts at their edges (rewards/payouts.py): minimum and approval to the cent, what a
payout holds, a payout run twice, the transfer found after a failure, reversals.

Found by mutation testing (docs/testing.md). Against the local fake Stripe.
"""

import logging

import pytest

from advocacy.models import AuditLog
from rewards import ledger, payouts
from rewards.models import LedgerEntry, Payout, Reward
from rewards.services import reward_issue, reward_void
from tests.factories import enroll
from tests.rewards.test_payouts import connected, earn  # noqa: F401 (a fixture)


def cash(advocate, currency="EUR"):
    return ledger.balances(advocate=advocate)["cash"][currency]


def test_cash_of_exactly_the_minimum_is_paid(fake_stripe, connected, advocate, program):  # noqa: F811
    earn(advocate, program.min_payout_minor)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    assert (payout.amount_minor, payout.status) == (program.min_payout_minor, "pending")


def test_nothing_to_pay_makes_no_payout_even_without_a_minimum(
    fake_stripe,
    connected,  # noqa: F811
    advocate,
    program,
):
    program.min_payout_minor = 0
    program.save()
    assert payouts.payout_create(advocate_id=advocate.pk, currency="EUR") is None
    ledger.adjustment_append(advocate=advocate, amount_minor=-500, currency="EUR", memo="debt")
    assert payouts.payout_create(advocate_id=advocate.pk, currency="EUR") is None
    assert not Payout.objects.exists()


def test_a_payout_of_exactly_the_approval_threshold_needs_no_approval(
    fake_stripe,
    connected,  # noqa: F811
    advocate,
    program,
):
    program.payout_approval_above_minor = 10000
    program.save()
    earn(advocate, 10000)
    assert payouts.payout_create(advocate_id=advocate.pk, currency="EUR").status == "pending"
    earn(advocate, 10001)
    Payout.objects.update(status="paid")  # the first one is done
    assert payouts.payout_create(advocate_id=advocate.pk, currency="EUR").status == (
        "awaiting_approval"
    )


def test_a_paused_advocate_is_not_paid(fake_stripe, connected, advocate):  # noqa: F811
    earn(advocate, 5000)
    advocate.status = "paused"
    advocate.save(update_fields=["status"])
    assert payouts.payout_create(advocate_id=advocate.pk, currency="EUR") is None
    assert cash(advocate)["available"] == 5000


def test_a_payout_holds_its_currencys_available_cash_rewards_only(
    fake_stripe,
    connected,  # noqa: F811
    advocate,
):
    bob = enroll(advocate.program, "bob@example.com")
    bobs = earn(bob, 2500)
    eur = earn(advocate, 3000)
    usd = earn(advocate, 2000, currency="USD")
    pending = reward_issue(program=advocate.program, advocate=advocate, key="pending",
                           reason="t", amount_minor=700, currency="EUR", hold_days=5)  # fmt: skip
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    assert payout.amount_minor == 3000
    held = Reward.objects.filter(payout=payout).values_list("pk", flat=True)
    assert list(held) == [eur.pk]
    assert Reward.objects.get(pk=usd.pk).payout_id is None
    assert Reward.objects.get(pk=bobs.pk).payout_id is None
    assert Reward.objects.get(pk=pending.pk).payout_id is None
    assert cash(advocate) == {"pending": 700, "available": 0, "in_payout": 3000, "paid": 0}
    row = AuditLog.objects.get(action="payout.created")
    assert (row.program_id, row.object_id, row.data) == (
        advocate.program_id,
        str(payout.pk),
        {"amount": 3000, "currency": "EUR", "status": "pending"},
    )


def test_a_payout_executed_twice_or_unknown_sends_once(fake_stripe, connected, advocate):  # noqa: F811
    earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    assert payouts.payout_execute(payout_id=payout.pk) == "paid"
    assert payouts.payout_execute(payout_id=payout.pk) == "paid"
    assert payouts.payout_execute(payout_id=payout.pk + 1000) == "missing"
    payout.refresh_from_db()
    assert (payout.attempts, payout.sent_at is not None) == (1, True)
    [transfer] = fake_stripe.transfers.values()
    assert transfer["metadata"] == {"payout_id": str(payout.pk), "advocate_id": str(advocate.pk)}
    assert (transfer["amount"], transfer["currency"]) == (4000, "eur")
    assert cash(advocate) == {"pending": 0, "available": 0, "in_payout": 0, "paid": 4000}
    row = AuditLog.objects.get(action="payout.paid")
    assert (row.program_id, row.data) == (advocate.program_id, {"transfer": transfer["id"]})


def test_a_permanent_failure_says_stripes_code_and_message(fake_stripe, connected, advocate):  # noqa: F811
    reward = earn(advocate, 4000)
    fake_stripe.fail("/v1/transfers", status=400, type="invalid_request_error",
                     code="account_invalid", message="The account is closed.")  # fmt: skip
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    assert payouts.payout_execute(payout_id=payout.pk) == "failed"
    payout.refresh_from_db()
    assert payout.failure_reason == "account_invalid: The account is closed."
    reward.refresh_from_db()
    assert (reward.status, reward.payout_id) == ("available", None)
    returned = LedgerEntry.objects.filter(payout=payout, kind="payout_returned")
    assert set(returned.values_list("bucket", "amount_minor", "memo")) == {
        ("in_payout", -4000, "Payout failed: account_invalid: The account is closed."),
        ("available", 4000, "Payout failed: account_invalid: The account is closed."),
    }
    row = AuditLog.objects.get(action="payout.failed")
    assert (row.program_id, row.data) == (
        advocate.program_id,
        {"reason": "account_invalid: The account is closed."},
    )
    # A failed payout cannot fail again, nor be reversed.
    assert payouts.payout_fail(payout_id=payout.pk, reason="again") is False
    assert payouts.payout_reversed(payout_id=payout.pk, reason="again") is False
    assert cash(advocate)["available"] == 4000


def test_a_transfer_found_after_the_payout_failed_is_left_to_a_human(
    fake_stripe,
    connected,  # noqa: F811
    advocate,
    caplog,
):
    earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    payouts.payout_fail(payout_id=payout.pk, reason="gave up")
    entries = LedgerEntry.objects.count()
    with caplog.at_level(logging.ERROR, logger="rewards.payouts"):
        assert payouts.payout_mark_paid(payout_id=payout.pk, transfer_id="tr_late") == "failed"
    payout.refresh_from_db()
    assert (payout.status, payout.stripe_transfer_id) == ("failed", "")
    assert LedgerEntry.objects.count() == entries
    row = AuditLog.objects.get(action="payout.transfer_after_close")
    assert (row.program_id, row.data) == (
        advocate.program_id,
        {"transfer": "tr_late", "status": "failed"},
    )
    [record] = [r for r in caplog.records if r.name == "rewards.payouts"]
    assert (record.levelname, record.getMessage()) == (
        "ERROR",
        f"payout {payout.pk} is failed but transfer tr_late exists",
    )
    assert cash(advocate)["available"] == 4000


def test_a_reversed_transfer_returns_the_money_and_the_rewards(fake_stripe, connected, advocate):  # noqa: F811
    reward = earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    payouts.payout_execute(payout_id=payout.pk)
    reward.refresh_from_db()
    assert (reward.status, reward.payout_id) == ("paid", payout.pk)
    reason = "r" * 400
    assert payouts.payout_reversed(payout_id=payout.pk, reason=reason) is True
    assert payouts.payout_reversed(payout_id=payout.pk, reason=reason) is False
    payout.refresh_from_db()
    assert (payout.status, payout.failure_reason) == ("reversed", reason[:300])
    reward.refresh_from_db()
    assert (reward.status, reward.payout_id) == ("available", None)
    assert cash(advocate) == {"pending": 0, "available": 4000, "in_payout": 0, "paid": 0}
    memos = set(
        LedgerEntry.objects.filter(payout=payout, kind="payout_returned").values_list(
            "bucket", "memo"
        )
    )
    memo = f"Transfer reversed: {reason}"[:200]
    assert memos == {("paid", memo), ("available", memo)}
    row = AuditLog.objects.get(action="payout.reversed")
    assert (row.program_id, row.data) == (advocate.program_id, {"reason": reason})


def test_a_failed_payout_gives_back_only_its_own_rewards(fake_stripe, connected, advocate):  # noqa: F811
    first = earn(advocate, 4000)
    paid = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    assert payouts.payout_execute(payout_id=paid.pk) == "paid"
    second = earn(advocate, 3000)
    failing = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    assert payouts.payout_fail(payout_id=failing.pk, reason="account closed") is True
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.payout_id) == ("paid", paid.pk)
    assert (second.status, second.payout_id) == ("available", None)
    assert cash(advocate) == {"pending": 0, "available": 3000, "in_payout": 0, "paid": 4000}


def test_a_reward_clawed_back_stays_reversed_when_its_transfer_is_reversed(
    fake_stripe,
    connected,  # noqa: F811
    advocate,
):
    reward = earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    payouts.payout_execute(payout_id=payout.pk)
    reward_void(reward_id=reward.pk, reason="fraud")  # paid: clawed back
    reward.refresh_from_db()
    assert reward.status == "reversed"
    assert payouts.payout_reversed(payout_id=payout.pk, reason="bank returned it") is True
    reward.refresh_from_db()
    assert (reward.status, reward.payout_id) == ("reversed", payout.pk)
    # The debt of the clawback is paid by the money that came back.
    assert cash(advocate) == {"pending": 0, "available": 0, "in_payout": 0, "paid": 0}
    assert payouts.payout_create(advocate_id=advocate.pk, currency="EUR") is None


@pytest.mark.parametrize("status", ["pending", "sending"])
def test_an_open_payout_can_be_marked_paid(fake_stripe, connected, advocate, status):  # noqa: F811
    earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    Payout.objects.filter(pk=payout.pk).update(status=status)
    assert payouts.payout_mark_paid(payout_id=payout.pk, transfer_id="tr_1") == "paid"
    assert payouts.payout_mark_paid(payout_id=payout.pk, transfer_id="tr_1") == "paid"
    assert cash(advocate)["paid"] == 4000


def test_only_the_advocates_own_finished_account_is_paid(fake_stripe, connected, advocate):  # noqa: F811
    """Alice is connected; Bob started onboarding but did not finish; Carol has no
    account. Neither Bob nor Carol is paid, least of all to Alice's account."""
    bob = enroll(advocate.program, "bob@example.com")
    payouts.payout_account_onboarding_url(
        advocate=bob, refresh_url="http://testserver/", return_url="http://testserver/"
    )
    carol = enroll(advocate.program, "carol@example.com")
    for someone in (bob, carol):
        earn(someone, 5000)
        assert payouts.payout_create(advocate_id=someone.pk, currency="EUR") is None
        assert cash(someone)["available"] == 5000
    assert not Payout.objects.exists()


def test_without_a_minimum_one_cent_is_paid(fake_stripe, connected, advocate, program):  # noqa: F811
    program.min_payout_minor = 0
    program.save()
    earn(advocate, 1)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    assert payout.amount_minor == 1
    assert cash(advocate)["in_payout"] == 1


def test_a_transient_stripe_error_is_logged_and_retried_with_stripes_message(
    fake_stripe,
    connected,  # noqa: F811
    advocate,
    caplog,
):
    earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    fake_stripe.fail("/v1/transfers", status=500, type="api_error", message="Stripe is down.")
    with (
        caplog.at_level(logging.WARNING, logger="rewards.payouts"),
        pytest.raises(payouts.TransientPayoutError) as raised,
    ):
        payouts.payout_execute(payout_id=payout.pk)
    stripe_error = raised.value.__cause__
    assert "Stripe is down." in str(stripe_error)
    assert str(raised.value) == str(stripe_error)  # what the task's retry says
    [record] = [r for r in caplog.records if r.name == "rewards.payouts"]
    assert record.getMessage() == f"payout {payout.pk}: transient Stripe error: {stripe_error}"
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == ("sending", 1)


def test_a_reward_voided_while_its_payout_is_open_stays_reversed_when_it_is_paid(
    fake_stripe,
    connected,  # noqa: F811
    advocate,
):
    kept = earn(advocate, 4000)
    voided = earn(advocate, 1000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    reward_void(reward_id=voided.pk, reason="fraud")
    assert payouts.payout_execute(payout_id=payout.pk) == "paid"
    kept.refresh_from_db()
    voided.refresh_from_db()
    assert (kept.status, voided.status) == ("paid", "reversed")
    # The payout sent all it held; the voided 10.00 is a debt on the available balance.
    assert cash(advocate) == {"pending": 0, "available": -1000, "in_payout": 0, "paid": 5000}
