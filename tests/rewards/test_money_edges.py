"""The money arithmetic at its edges: refunds in parts, rounding, windows, limits, budgets.

Each test here was written against a small, realistic bug (a mutant) that the
rest of the suite let through; the docstring names it.
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.core import mail
from django.db import transaction

from advocacy.models import AuditLog
from core.errors import ServiceError
from referrals.services import click_record
from rewards import catalog, ledger, payouts, services
from rewards.models import (
    CatalogItem,
    LedgerEntry,
    Payout,
    PayoutAccount,
    Redemption,
    Reward,
    RewardDecision,
    RewardRule,
)
from tests.factories import UserFactory, enroll
from tests.fake_stripe import signed_event
from tests.helpers import post_conversion
from tests.rewards.test_catalog import grant_points
from tests.rewards.test_payouts import earn
from tests.rewards.test_rules import rule


def refund(api, amount=None, order_id="order-1", **headers):
    body = {} if amount is None else {"amount": amount}
    return api.post(f"/api/v1/conversions/{order_id}/refunds", body, format="json", **headers)


def entries(reward, kind="reward_reversed"):
    return list(
        LedgerEntry.objects.filter(reward=reward, kind=kind)
        .order_by("pk")
        .values_list("bucket", "amount_minor")
    )


# ------------------------------------------------------------ partial refunds


def test_two_partial_refunds_reverse_only_the_share_refunded_in_total(api, link):
    """80.00 refunded 20.00 twice is half the order: 5.00 of the 10.00 reward, not 7.50.

    Mutant: each refund reverses its full cumulative target again, instead of the
    target less what earlier refunds already reversed.
    """
    assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    reward = Reward.objects.get()
    assert refund(api, "20.00").status_code == 201
    assert refund(api, "20.00").status_code == 201
    reward.refresh_from_db()
    assert (reward.reversed_minor, reward.status) == (500, "pending")
    assert entries(reward) == [("pending", -250), ("pending", -250)]
    assert ledger.balances(advocate=reward.advocate)["cash"]["EUR"]["pending"] == 500
    # The rest of the order reverses the rest of the reward, to the minor unit.
    assert refund(api, "40.00").status_code == 201
    reward.refresh_from_db()
    assert (reward.reversed_minor, reward.status) == (1000, "reversed")
    assert ledger.balances(advocate=reward.advocate)["cash"]["EUR"]["pending"] == 0


def test_a_reversal_rounds_down_so_the_advocate_keeps_the_fraction(api, link):
    """10.00 refunded of a 30.00 order reverses 3.33 of a 10.00 reward, not 3.34.

    The rule (docs/rewards.md, "Rounding"): a partial reversal rounds towards the
    advocate; the cumulative target is recomputed from the total refunded, so the
    fractions never add up to more than the refunded share, and a full refund
    reverses the whole reward. Mutant: rounding the target up.
    """
    assert post_conversion(api, referral_code=link.code, amount="30.00").status_code == 201
    reward = Reward.objects.get()
    reversed_after = []
    for _ in range(3):
        assert refund(api, "10.00").status_code == 201
        reward.refresh_from_db()
        reversed_after.append(reward.reversed_minor)
    assert reversed_after == [333, 666, 1000]
    assert entries(reward) == [("pending", -333), ("pending", -333), ("pending", -334)]


def test_a_commission_rounds_down_to_the_minor_unit(api, program, link):
    """7 % of 49.99 is 349.93 cents: the commission is 3.49 (the merchant keeps the fraction)."""
    program.reward_rules.all().delete()
    rule(program, kind=RewardRule.Kind.COMMISSION, percent="7", amount_minor=0)
    assert post_conversion(api, referral_code=link.code, amount="49.99").status_code == 201
    assert Reward.objects.get().amount_minor == 349


def test_a_partial_refund_leaves_a_perk_and_a_full_refund_voids_it(api, program, link):
    """The perk is the order's first reward: a partial refund skips it and goes on to
    the cash reward (not ``break``); only the refund that makes the order whole voids it.
    """
    program.reward_rules.all().delete()
    rule(program, name="tote", kind=RewardRule.Kind.PERK, perk_description="Tote", amount_minor=0)
    rule(program, name="cash", amount_minor=1000)
    assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    perk, cash = Reward.objects.order_by("pk")
    assert refund(api, "60.00").status_code == 201
    perk.refresh_from_db()
    cash.refresh_from_db()
    assert (perk.status, cash.reversed_minor) == ("pending", 750)
    assert refund(api, "20.00").status_code == 201
    perk.refresh_from_db()
    cash.refresh_from_db()
    assert (perk.status, cash.status, cash.reversed_minor) == ("reversed", "reversed", 1000)
    voided = AuditLog.objects.filter(action="reward.reversed", object_id=str(perk.pk)).get()
    assert voided.program_id == program.pk
    assert voided.data == {"reason": "Refund of order order-1"}


def test_a_refund_too_small_to_reverse_a_cent_writes_nothing(api, link):
    """1 cent of an 80.00 order is 0.125 cent of a 10.00 reward: nothing to reverse, no entry."""
    assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    reward = Reward.objects.get()
    audit_rows = AuditLog.objects.count()
    assert refund(api, "0.01").status_code == 201
    reward.refresh_from_db()
    assert reward.reversed_minor == 0
    assert entries(reward) == []
    assert AuditLog.objects.filter(action="reward.reversed").count() == 0
    assert AuditLog.objects.count() == audit_rows + 1  # the refund's own row only
    # 8 cents is exactly one cent of the reward: that one is reversed.
    assert refund(api, "0.07").status_code == 201
    reward.refresh_from_db()
    assert (reward.reversed_minor, entries(reward)) == (1, [("pending", -1)])


def test_reversing_all_takes_back_what_refunds_left(api, link):
    """Un-attributing a partly refunded order reverses the rest of its rewards, not more."""
    assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    assert refund(api, "20.00").status_code == 201
    reward = Reward.objects.get()
    with transaction.atomic():
        services.rewards_reverse_all(conversion=reward.conversion, reason="self-referral")
    reward.refresh_from_db()
    assert (reward.reversed_minor, reward.status) == (1000, "reversed")
    assert entries(reward) == [("pending", -250), ("pending", -750)]
    assert LedgerEntry.objects.filter(reward=reward).order_by("pk").last().memo == "self-referral"
    assert ledger.balances(advocate=reward.advocate)["cash"]["EUR"]["pending"] == 0


def test_a_reward_matures_at_the_end_of_its_hold_and_is_reversed_where_it_is(api, link):
    """Exactly at ``available_at`` it matures; a refund then debits the available bucket,
    with the order in the memo and an audit row of the program saying how much."""
    assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    reward = Reward.objects.get()
    assert services.reward_mature(reward_id=reward.pk, now=reward.available_at) is True
    matured = AuditLog.objects.get(action="reward.matured")
    assert (matured.program_id, matured.object_id) == (reward.program_id, str(reward.pk))
    assert refund(api, "20.00").status_code == 201
    assert list(
        LedgerEntry.objects.filter(reward=reward, kind="reward_reversed").values_list(
            "bucket", "amount_minor", "memo"
        )
    ) == [("available", -250, "Refund of order order-1")]
    reversed_row = AuditLog.objects.get(action="reward.reversed")
    assert reversed_row.program_id == reward.program_id
    assert reversed_row.data == {"amount": 250, "reason": "Refund of order order-1"}
    assert ledger.balances(advocate=reward.advocate)["cash"]["EUR"]["available"] == 750


def test_the_last_cent_of_a_reward_matures(api, link, django_capture_on_commit_callbacks):
    assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    assert refund(api, "79.93").status_code == 201  # 999 of the 1000 reversed
    reward = Reward.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reward_mature(reward_id=reward.pk, now=reward.available_at) is True
    assert ledger.balances(advocate=reward.advocate)["cash"]["EUR"]["available"] == 1
    assert [m.subject for m in mail.outbox] == ["Your reward of 0.01 EUR is available"]


def test_a_perk_never_matures_into_a_balance(api, program, link):
    program.reward_rules.all().delete()
    rule(program, kind=RewardRule.Kind.PERK, perk_description="Tote", amount_minor=0, hold_days=0)
    assert post_conversion(api, referral_code=link.code).status_code == 201
    perk = Reward.objects.get()
    assert services.reward_mature(reward_id=perk.pk, now=perk.available_at) is False
    perk.refresh_from_db()
    assert perk.status == "pending"
    assert services.reward_ids_due(now=perk.available_at) == []


# ------------------------------------------------------------ attribution window


START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "attributed"),
    [
        (timedelta(days=30), True),
        (timedelta(days=30, microseconds=1), False),
    ],
    ids=["exactly-at-the-end", "just-after-the-end"],
)
def test_a_purchase_exactly_at_the_windows_end_is_still_attributed(
    api, program, link, after, attributed
):
    """The window is closed: a purchase at click + 30 days counts, a moment later does not.

    Mutant: ``>`` replaced by ``>=`` when comparing the purchase to the window.
    """
    assert program.attribution_window_days == 30
    with time_machine.travel(START, tick=False) as clock:
        click_id = click_record(link=link)
        clock.move_to(START + after)
        body = post_conversion(api, click_id=str(click_id)).json()
    assert body["attributed"] is attributed
    assert Reward.objects.filter(recipient="advocate").exists() is attributed
    if not attributed:
        assert "30-day attribution window" in body["attribution"]["reason"]


# ------------------------------------------------------------ Idempotency-Key


def test_a_replayed_key_answers_the_first_body_after_the_order_changed(api, link):
    """Conversion with key k, then a refund, then k again: the first answer, not today's.

    Mutant: running the handler again on a replay (and keeping the replay header).
    """
    first = post_conversion(api, referral_code=link.code, HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201
    assert first.json()["status"] != "refunded"
    assert refund(api).status_code == 201
    again = post_conversion(api, referral_code=link.code, HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # Without the key the same order answers with what it is now.
    now = post_conversion(api, referral_code=link.code).json()
    assert (now["status"], now["refunded"]) == ("refunded", "49.90")
    assert now["rewards"][0]["status"] == "reversed"


def test_a_replayed_refund_key_does_not_refund_or_reverse_again(api, link):
    assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    first = refund(api, "20.00", HTTP_IDEMPOTENCY_KEY="r")
    assert refund(api, "20.00").status_code == 201  # another refund, without a key
    again = refund(api, "20.00", HTTP_IDEMPOTENCY_KEY="r")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    reward = Reward.objects.get()
    assert reward.reversed_minor == 500
    assert reward.conversion.refunded_minor == 4000


# ------------------------------------------------------------ monthly limit and budget


def _buy_at(api, link, when, n):
    with time_machine.travel(when, tick=False):
        response = post_conversion(
            api,
            order_id=f"m-{n}",
            referral_code=link.code,
            customer={"email": f"friend{n}@example.com"},
        )
    assert response.status_code == 201
    return response.json()


def test_limit_per_month_counts_the_calendar_month(api, program, link):
    """Two rewards a month: the third in January waits for 1 February, 00:00 UTC.

    Mutants: counting the last 24 hours (the 31 January purchase would pay), or a
    rolling 30 days (the 1 February purchases would not).
    """
    program.reward_rules.all().delete()
    rule(program, trigger=RewardRule.Trigger.FIRST_PURCHASE, amount_minor=500, limit_per_month=2)
    jan = [
        datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 1, 20, 9, 0, tzinfo=UTC),
        datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC),
    ]
    feb = [
        datetime(2026, 2, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 2, 1, 0, 1, tzinfo=UTC),
        datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
    ]
    for n, when in enumerate(jan + feb):
        _buy_at(api, link, when, n)
    rewarded = sorted(
        Reward.objects.filter(recipient="advocate").values_list("created_at", flat=True)
    )
    assert rewarded == [jan[0], jan[1], feb[0], feb[1]]
    skipped = (
        RewardDecision.objects.filter(outcome="skipped")
        .order_by("pk")
        .values_list("reason", flat=True)
    )
    assert list(skipped) == ["limit of 2 rewards per month reached"] * 2


def test_a_reversed_reward_gives_its_monthly_budget_back(api, program, link):
    """Budget 15.00 and 10.00 a friend: after half of the first order is refunded
    (5.00 back), the next friend's 10.00 fits exactly.

    Mutant: the budget counts rewards issued, ignoring what was reversed.
    """
    program.monthly_budget_minor = 1500
    program.save()
    with time_machine.travel(datetime(2026, 5, 4, 10, 0, tzinfo=UTC), tick=False):
        for n in (1, 2):
            post_conversion(
                api, order_id=f"b-{n}", referral_code=link.code, amount="40.00",
                customer={"email": f"friend{n}@example.com"},
            )  # fmt: skip
        assert Reward.objects.filter(recipient="advocate").count() == 1
        assert refund(api, "20.00", order_id="b-1").status_code == 201
        post_conversion(
            api, order_id="b-3", referral_code=link.code, amount="40.00",
            customer={"email": "friend3@example.com"},
        )  # fmt: skip
        post_conversion(
            api, order_id="b-4", referral_code=link.code, amount="40.00",
            customer={"email": "friend4@example.com"},
        )  # fmt: skip
    given = Reward.objects.filter(recipient="advocate").order_by("pk")
    assert [(r.conversion.order_id, r.amount_minor - r.reversed_minor) for r in given] == [
        ("b-1", 500),
        ("b-3", 1000),
    ]
    reasons = (
        RewardDecision.objects.filter(outcome="skipped")
        .order_by("pk")
        .values_list("reason", flat=True)
    )
    assert list(reasons) == [
        "monthly budget exhausted (1000 of 1500 used)",
        "monthly budget exhausted (1500 of 1500 used)",
    ]


# ------------------------------------------------------------ webhook secret


@pytest.mark.parametrize(
    ("own", "signed_with", "status"),
    [
        ("whsec_program", "whsec_program", 200),
        ("whsec_program", "whsec_global", 400),
        ("", "whsec_global", 200),
    ],
    ids=["own-secret-verifies", "global-secret-refused", "global-secret-as-fallback"],
)
def test_the_programs_own_webhook_secret_wins_over_the_global_one(
    client, program, settings, own, signed_with, status
):
    """Mutant: ``STRIPE_WEBHOOK_SECRET or program.stripe_webhook_secret``."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_global"
    program.stripe_webhook_secret = own
    program.save()
    body, signature = signed_event("customer.created", {"id": "cus_1"}, signed_with)
    response = client.post(
        f"/webhooks/stripe/{program.slug}/",
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"]["code"] == "invalid_signature"


# ------------------------------------------------------------ catalog: check under the lock


def test_a_redemption_rechecks_the_balance_after_taking_the_lock(monkeypatch, program, advocate):
    """Another redemption commits while this one waits for the advocate's lock.

    The interleaving is made deterministic: taking the lock first runs the other
    request to the end. The balance read under the lock sees its debit; a balance
    read before the lock (the mutant) would overdraw. The PostgreSQL twin is
    ``test_concurrent_redemptions_never_overdraw``.
    """
    mug = CatalogItem.objects.create(program=program, name="Mug", kind="perk", points_price=100)
    grant_points(advocate, 150)
    real_advocate = catalog.Advocate

    def lock_after_the_other_request(pk):
        monkeypatch.setattr(catalog, "Advocate", real_advocate)
        catalog.points_redeem(advocate=advocate, item=mug, idempotency_key="the-other")
        return real_advocate.objects.select_for_update().get(pk=pk)

    monkeypatch.setattr(
        catalog,
        "Advocate",
        SimpleNamespace(
            objects=SimpleNamespace(
                select_for_update=lambda: SimpleNamespace(get=lock_after_the_other_request)
            )
        ),
    )
    with pytest.raises(ServiceError) as refused:
        catalog.points_redeem(advocate=advocate, item=mug, idempotency_key="this-one")
    assert refused.value.code == "insufficient_points"
    assert "50 are available" in refused.value.message
    # (Both ran in this one test transaction, which the refusal rolled back.)
    assert not Redemption.objects.filter(idempotency_key="this-one").exists()


def test_a_redemption_spends_exactly_the_balance(program, advocate):
    mug = CatalogItem.objects.create(program=program, name="Mug", kind="perk", points_price=100)
    grant_points(advocate, 100)
    catalog.points_redeem(advocate=advocate, item=mug, idempotency_key="all-of-it")
    assert ledger.available_points(advocate.pk) == 0
    spent = LedgerEntry.objects.get(kind="redemption")
    assert (spent.amount_minor, spent.memo) == (-100, "Redeemed Mug")


def test_a_cancelled_redemption_returns_its_points_once_with_memo_and_audit(program, advocate):
    manager = UserFactory()
    mug = CatalogItem.objects.create(program=program, name="Mug", kind="perk", points_price=100)
    grant_points(advocate, 130)
    redemption = catalog.points_redeem(advocate=advocate, item=mug, idempotency_key="mug")
    assert catalog.redemption_cancel(redemption_id=redemption.pk, actor=manager) is True
    assert catalog.redemption_cancel(redemption_id=redemption.pk, actor=manager) is False
    redemption.refresh_from_db()
    assert redemption.status == "cancelled"
    returned = LedgerEntry.objects.get(kind="redemption_refunded")
    assert (returned.amount_minor, returned.memo) == (100, "Redemption cancelled")
    assert ledger.available_points(advocate.pk) == 130
    row = AuditLog.objects.get(action="redemption.cancelled")
    assert (row.program_id, row.actor_id) == (program.pk, manager.pk)


# ------------------------------------------------------------ Stripe: transfer lookup


def _onboarded(fake_stripe, advocate) -> PayoutAccount:
    payouts.payout_account_onboarding_url(
        advocate=advocate, refresh_url="http://testserver/", return_url="http://testserver/"
    )
    account = PayoutAccount.objects.get(advocate=advocate)
    fake_stripe.onboard(account.stripe_account_id)
    payouts.payout_account_refresh(account=account)
    return account


def test_a_resent_payout_looks_up_only_its_own_transfer_group(fake_stripe, advocate):
    """Stripe forgot the keys; another advocate's transfer is the newest one there.

    The lookup before resending filters by the payout's ``transfer_group``; without
    the filter (the mutant) it would take the other advocate's transfer as this
    payout's and never pay this advocate.
    """
    connected = _onboarded(fake_stripe, advocate)
    bob = enroll(advocate.program, "bob@example.com")
    _onboarded(fake_stripe, bob)
    earn(bob, 2500)
    bobs_payout = payouts.payout_create(advocate_id=bob.pk, currency="EUR")
    assert payouts.payout_execute(payout_id=bobs_payout.pk) == "paid"

    earn(advocate, 4000)
    payout = payouts.payout_create(advocate_id=advocate.pk, currency="EUR")
    Payout.objects.filter(pk=payout.pk).update(status="sending", attempts=1)  # a crash
    fake_stripe._idem.clear()  # Stripe keeps idempotency keys for 24 hours only
    assert payouts.payout_execute(payout_id=payout.pk) == "paid"

    lookups = fake_stripe.requests_to("/v1/transfers", "GET")
    assert [q["params"].get("transfer_group") for q in lookups] == [payout.stripe_idempotency_key]
    payout.refresh_from_db()
    bobs_payout.refresh_from_db()
    assert len(fake_stripe.transfers) == 2
    assert payout.stripe_transfer_id != bobs_payout.stripe_transfer_id
    assert set(
        LedgerEntry.objects.filter(payout=payout).values_list("bucket", "amount_minor", "memo")
    ) == {
        ("available", -4000, f"Payout {payout.pk}"),
        ("in_payout", 4000, f"Payout {payout.pk}"),
        ("in_payout", -4000, f"Payout {payout.pk} sent ({payout.stripe_transfer_id})"),
        ("paid", 4000, f"Payout {payout.pk} sent ({payout.stripe_transfer_id})"),
    }
    transfer = fake_stripe.transfers[payout.stripe_transfer_id]
    assert (transfer["amount"], transfer["destination"]) == (4000, connected.stripe_account_id)
    assert transfer["transfer_group"] == payout.stripe_idempotency_key
