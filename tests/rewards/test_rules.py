"""The rules engine: triggers, recipients, kinds, limits, budget, and the decision log."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from advocacy.models import AuditLog
from rewards import services
from rewards.coupons import coupon_pool_import
from rewards.flows import referral_create
from rewards.models import CouponPool, LedgerEntry, Reward, RewardDecision, RewardRule
from rewards.tasks import issue_pending_coupon_codes
from tests.factories import enroll
from tests.helpers import post_conversion

R = RewardRule


@pytest.fixture
def bare_program(program):
    """Acme without its default rules, for tests that define their own."""
    program.reward_rules.all().delete()
    return program


def rule(program, **kwargs):
    defaults = {
        "name": "Rule",
        "trigger": R.Trigger.FIRST_PURCHASE,
        "recipient": R.Recipient.ADVOCATE,
        "kind": R.Kind.CASH,
        "amount_minor": 500,
    }
    defaults.update(kwargs)
    obj = R(program=program, **defaults)
    obj.full_clean()
    obj.save()
    return obj


def buy(api, link, n=1, email="friend@example.com", amount="50.00", **extra):
    return post_conversion(
        api,
        order_id=f"o-{email}-{n}",
        referral_code=link.code,
        customer={"email": email},
        amount=amount,
        **extra,
    )


def advocate_rewards():
    return list(
        Reward.objects.filter(recipient="advocate")
        .order_by("pk")
        .values_list("kind", "amount_minor")
    )


def test_the_default_offer_is_double_sided(api, program, link):
    signup = api.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "bob@example.com"}},
        format="json",
    ).json()
    assert signup["friend_reward"] == {
        "kind": "discount",
        "percent_off": 10,
        "coupon_code": link.advocate.coupon_code,
    }
    buy(api, link, email="bob@example.com")
    assert advocate_rewards() == [("cash", 1000)]


def test_a_commission_is_a_percentage_of_the_order_in_its_currency(api, bare_program, link):
    rule(bare_program, kind=R.Kind.COMMISSION, percent=Decimal("12.5"), amount_minor=0)
    buy(api, link, amount="80.01")
    reward = Reward.objects.get()
    assert (reward.amount_minor, reward.currency) == (1000, "EUR")  # 8001 * 12.5% rounded down


def test_every_purchase_is_rewarded_up_to_the_limit(api, bare_program, link):
    rule(bare_program, trigger=R.Trigger.EVERY_PURCHASE, kind=R.Kind.POINTS, points=50,
         amount_minor=0, max_purchases=2)  # fmt: skip
    for n in range(1, 4):
        buy(api, link, n=n)
    assert advocate_rewards() == [("points", 50), ("points", 50)]
    skipped = RewardDecision.objects.get(outcome="skipped")
    assert "purchase #3 is past the limit of 2" in skipped.reason


def test_subscription_purchases_count_only_within_the_months(api, bare_program, link):
    rule(bare_program, trigger=R.Trigger.EVERY_PURCHASE, max_months=2)
    earlier = (timezone.now() - timedelta(days=90)).isoformat()
    buy(api, link, n=1, occurred_at=earlier)
    buy(api, link, n=2)
    assert len(advocate_rewards()) == 1
    assert "months after the first purchase" in RewardDecision.objects.get(outcome="skipped").reason


def test_a_minimum_order_amount_is_respected(api, bare_program, link):
    rule(bare_program, min_order_minor=5000)
    buy(api, link, amount="49.99")
    assert advocate_rewards() == []
    assert "below the minimum" in RewardDecision.objects.get().reason


def test_the_third_friend_earns_a_milestone_bonus(api, bare_program, link):
    rule(bare_program, name="Per friend")
    rule(bare_program, name="3 friends", trigger=R.Trigger.MILESTONE, milestone_count=3,
         amount_minor=2500)  # fmt: skip
    for n in range(1, 5):
        buy(api, link, email=f"friend{n}@example.com")
    assert advocate_rewards() == [("cash", 500)] * 3 + [("cash", 2500)] + [("cash", 500)]
    # A repeat purchase of the third friend does not count again.
    buy(api, link, n=2, email="friend3@example.com")
    assert len(advocate_rewards()) == 5


def test_limits_per_day_and_lifetime(api, bare_program, link):
    rule(bare_program, limit_per_day=2, limit_lifetime=3)
    for n in range(1, 4):
        buy(api, link, email=f"d{n}@example.com")
    assert len(advocate_rewards()) == 2
    assert (
        "limit of 2 rewards per day" in RewardDecision.objects.filter(outcome="skipped")[0].reason
    )
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        for n in range(4, 7):
            buy(api, link, email=f"d{n}@example.com")
    assert len(advocate_rewards()) == 3


def test_the_monthly_budget_caps_cash_rewards(api, bare_program, link):
    bare_program.monthly_budget_minor = 1200
    bare_program.save()
    rule(bare_program)
    for n in range(1, 5):
        buy(api, link, email=f"b{n}@example.com")
    assert advocate_rewards() == [("cash", 500), ("cash", 500)]
    assert "monthly budget exhausted" in RewardDecision.objects.filter(outcome="skipped")[0].reason


def test_a_big_reward_waits_for_approval_before_it_matures(api, bare_program, link):
    rule(bare_program, amount_minor=50000, approval_above_minor=10000, hold_days=0)
    buy(api, link)
    reward = Reward.objects.get()
    assert reward.requires_approval
    assert services.reward_mature(reward_id=reward.pk) is False
    assert services.reward_approve(reward_id=reward.pk) is True
    assert services.reward_approve(reward_id=reward.pk) is False
    assert services.reward_mature(reward_id=reward.pk) is True


def test_a_rule_specific_hold_period(api, bare_program, link):
    rule(bare_program, hold_days=3)
    buy(api, link)
    reward = Reward.objects.get()
    assert reward.available_at - reward.created_at == timedelta(days=3)


def test_friend_coupons_come_from_the_pool_once_each(api, bare_program, advocate, link):
    pool = CouponPool.objects.create(program=bare_program, name="Welcome 15%")
    assert coupon_pool_import(pool=pool, data=b"code\nWELCOME-A\nWELCOME-B\n\nWELCOME-A\n") == {
        "added": 2,
        "duplicates": 0,
        "invalid": 0,
    }
    assert coupon_pool_import(pool=pool, data=b"WELCOME-A\nbad code\n")["duplicates"] == 1
    rule(bare_program, trigger=R.Trigger.SIGNUP, recipient=R.Recipient.FRIEND,
         kind=R.Kind.COUPON, coupon_pool=pool, coupon_percent_off=15, amount_minor=0)  # fmt: skip
    codes = []
    for n in range(3):
        referral, _ = referral_create(
            program=bare_program, friend_email=f"f{n}@example.com", referral_code=link.code
        )
        from rewards.selectors import friend_reward

        reward = friend_reward(referral=referral)
        codes.append(reward["coupon_code"] if reward else None)
    assert codes == ["WELCOME-A", "WELCOME-B", None]
    assert "no codes left" in RewardDecision.objects.get(outcome="skipped").reason
    assert pool.codes.filter(assigned_at__isnull=True).count() == 0


def test_a_perk_waits_for_a_manager(api, bare_program, link):
    rule(bare_program, kind=R.Kind.PERK, perk_description="Free tote bag", amount_minor=0)
    buy(api, link)
    reward = Reward.objects.get()
    assert (reward.kind, reward.status) == ("perk", "pending")
    assert LedgerEntry.objects.count() == 0
    assert services.reward_fulfil(reward_id=reward.pk) is True
    reward.refresh_from_db()
    assert reward.status == "fulfilled"


def test_points_are_a_balance_of_their_own(api, bare_program, link):
    rule(bare_program, kind=R.Kind.POINTS, points=120, amount_minor=0, hold_days=0)
    buy(api, link)
    services.reward_mature(reward_id=Reward.objects.get().pk)
    detail = api.get(f"/api/v1/advocates/{link.advocate_id}").json()
    assert detail["balances"]["points"] == {"pending": 0, "available": 120}
    assert detail["balances"]["cash"] == {}


def test_every_evaluation_is_explained(api, program, link):
    other = enroll(program, "olga@example.com")
    buy(api, link)
    buy(api, link, n=2)
    decisions = list(RewardDecision.objects.order_by("pk").values_list("outcome", "reason"))
    assert decisions[0][0] == "applied"
    assert decisions[1] == ("skipped", "not the friend's first purchase (purchase #2)")
    assert not RewardDecision.objects.filter(advocate=other).exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": R.Kind.CASH, "amount_minor": 0}, "amount_minor"),
        ({"kind": R.Kind.COMMISSION, "amount_minor": 0}, "percent"),
        ({"kind": R.Kind.POINTS, "amount_minor": 0}, "points"),
        ({"recipient": R.Recipient.FRIEND}, "kind"),
        ({"trigger": R.Trigger.MILESTONE}, "milestone_count"),
        ({"kind": R.Kind.PERK, "amount_minor": 0}, "perk_description"),
        ({"kind": R.Kind.COMMISSION, "percent": 5, "trigger": R.Trigger.SIGNUP}, "trigger"),
    ],
)
def test_invalid_rules_are_refused_with_the_field_named(bare_program, fields, error):
    with pytest.raises(ValidationError) as exc:
        rule(bare_program, **fields)
    assert error in exc.value.message_dict


def test_refunding_the_order_voids_the_rules_rewards(api, bare_program, link):
    rule(bare_program, kind=R.Kind.POINTS, points=40, amount_minor=0)
    rule(bare_program, name="cash")
    buy(api, link)
    api.post("/api/v1/conversions/o-friend@example.com-1/refunds", {}, format="json")
    assert set(Reward.objects.values_list("status", flat=True)) == {"reversed"}
    assert sum(LedgerEntry.objects.values_list("amount_minor", flat=True)) == 0


def test_friends_get_single_use_stripe_promotion_codes(
    transactional_db, api, bare_program, link, fake_stripe
):
    rule(bare_program, trigger=R.Trigger.SIGNUP, recipient=R.Recipient.FRIEND,
         kind=R.Kind.COUPON, coupon_percent_off=15, stripe_promotion_codes=True,
         amount_minor=0)  # fmt: skip
    codes = []
    for n in range(2):
        # The code is fetched from Stripe after the referral commits, before the answer.
        response = api.post(
            "/api/v1/referrals",
            {"referral_code": link.code, "friend": {"email": f"s{n}@example.com"}},
            format="json",
        )
        codes.append(response.json()["friend_reward"]["coupon_code"])
    [coupon] = fake_stripe.coupons.values()
    assert coupon["percent_off"] == 15
    promos = list(fake_stripe.promotion_codes.values())
    assert sorted(p["code"] for p in promos) == sorted(codes)
    assert {p["max_redemptions"] for p in promos} == {1}
    assert len(set(codes)) == 2


def test_a_stripe_outage_delays_the_friends_coupon_but_never_loses_it(
    api, bare_program, link, fake_stripe, django_capture_on_commit_callbacks, time_machine
):
    rule(bare_program, trigger=R.Trigger.SIGNUP, recipient=R.Recipient.FRIEND,
         kind=R.Kind.COUPON, coupon_percent_off=15, stripe_promotion_codes=True,
         amount_minor=0)  # fmt: skip
    fake_stripe.fail("/v1/coupons", status=500, type="api_error", times=100)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/referrals",
            {"referral_code": link.code, "friend": {"email": "x@example.com"}},
            format="json",
        )
    assert response.status_code == 201
    # The reward is there, waiting for its code; no request held a lock while Stripe failed.
    assert response.json()["friend_reward"] == {
        "kind": "discount",
        "percent_off": 15,
        "coupon_code": None,
    }
    reward = Reward.objects.get()
    assert (reward.status, reward.coupon_code) == ("pending", "")
    assert RewardDecision.objects.get().outcome == "applied"

    fake_stripe.clear_failures()
    time_machine.move_to(timezone.now() + timedelta(minutes=5))
    assert issue_pending_coupon_codes() == 1
    reward.refresh_from_db()
    [promo] = fake_stripe.promotion_codes.values()
    assert (reward.status, reward.coupon_code) == ("issued", promo["code"])
    assert issue_pending_coupon_codes() == 0
    body = api.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "x@example.com"}},
        format="json",
    ).json()
    assert body["friend_reward"]["coupon_code"] == promo["code"]


def test_stripe_refusing_the_code_voids_the_coupon_with_the_reason(
    api, bare_program, link, fake_stripe, django_capture_on_commit_callbacks
):
    rule(bare_program, trigger=R.Trigger.SIGNUP, recipient=R.Recipient.FRIEND,
         kind=R.Kind.COUPON, coupon_percent_off=15, stripe_promotion_codes=True,
         amount_minor=0)  # fmt: skip
    fake_stripe.fail("/v1/coupons", status=400, type="invalid_request_error", times=5)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/referrals",
            {"referral_code": link.code, "friend": {"email": "x@example.com"}},
            format="json",
        )
    assert response.status_code == 201
    reward = Reward.objects.get()
    assert reward.status == "reversed"
    assert (
        "friend_reward"
        not in api.post(
            "/api/v1/referrals",
            {"referral_code": link.code, "friend": {"email": "x@example.com"}},
            format="json",
        ).json()
    )
    assert (
        "Stripe could not create" in AuditLog.objects.get(action="reward.reversed").data["reason"]
    )
