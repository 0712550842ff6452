"""VIP tiers: reached on each event, with entry points, a badge, an email and a multiplier."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from core.hashing import fingerprint
from nurture.models import Badge, OutgoingEmail, Standing, Tier, TierChange
from nurture.tasks import tiers_recompute_all
from nurture.tiers import progress, standing_recompute
from referrals.models import Referral
from rewards.flows import conversion_record
from rewards.ledger import available_points, balances
from rewards.models import Reward
from tests.portal.helpers import add_referral


def refer(advocate, n, start=0):
    for i in range(start, start + n):
        referral = add_referral(advocate, f"friend{i}@example.com")
        standing_recompute(advocate=advocate)
    return referral


def test_an_advocate_enters_a_tier_once_they_reach_its_threshold(advocate, tiers):
    silver, gold = tiers
    refer(advocate, 1)
    assert Standing.objects.get(advocate=advocate).tier is None
    refer(advocate, 1, start=1)
    standing = Standing.objects.get(advocate=advocate)
    assert standing.tier == silver and standing.multiplier == silver.multiplier
    entry = Reward.objects.get(idempotency_key=f"tier-entry:{advocate.pk}:{silver.pk}")
    assert (entry.kind, entry.amount_minor) == ("points", 100)
    assert Badge.objects.filter(advocate=advocate, code="tier_reached").exists()
    assert OutgoingEmail.objects.filter(advocate=advocate, template="tier_changed").count() == 1
    refer(advocate, 2, start=2)
    assert Standing.objects.get(advocate=advocate).tier == gold
    assert TierChange.objects.filter(advocate=advocate).count() == 2


def test_a_friend_signing_up_moves_the_tier_once_committed(
    program, advocate, tiers, django_capture_on_commit_callbacks
):
    from referrals.services import referral_create

    for i in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            referral_create(program=program, friend_email=f"f{i}@example.com",
                            referral_code=advocate.coupon_code)  # fmt: skip
    assert Standing.objects.get(advocate=advocate).tier == tiers[0]


def test_one_purchase_gets_the_multiplier_held_when_it_came(
    program, advocate, tiers, django_capture_on_commit_callbacks
):
    refer(advocate, 3)  # Silver (x1.5); this purchase's friend makes 4 referrals: Gold
    with django_capture_on_commit_callbacks(execute=True):
        conversion, _ = conversion_record(
            program=program, order_id="o-2", amount_minor=5000, currency="EUR",
            fingerprint=fingerprint({"o": 2}), customer_email="new@example.com",
            referral_code=advocate.coupon_code,
        )  # fmt: skip
    reward = Reward.objects.get(conversion=conversion, recipient="advocate", kind="cash")
    assert reward.amount_minor == 1500  # Silver's x1.5, not Gold's x2
    assert Standing.objects.get(advocate=advocate).tier == tiers[1]  # Gold from now on


def test_entry_points_are_given_once_even_after_leaving_and_coming_back(advocate, program):
    tier = Tier.objects.create(
        program=program, name="Active", metric="referrals", threshold=1, window_days=30,
        entry_points=40,
    )  # fmt: skip
    refer(advocate, 1)
    assert Standing.objects.get(advocate=advocate).tier == tier
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        tiers_recompute_all()  # the beat job: the rolling window emptied
        assert Standing.objects.get(advocate=advocate).tier is None
        refer(advocate, 1, start=5)
    assert Standing.objects.get(advocate=advocate).tier == tier
    assert Reward.objects.filter(idempotency_key__startswith="tier-entry:").count() == 1
    assert TierChange.objects.filter(advocate=advocate).count() == 3


def test_the_tier_multiplier_scales_what_the_rules_give(program, advocate, tiers):
    refer(advocate, 2)  # Silver: x1.5
    conversion, _ = conversion_record(
        program=program, order_id="o-1", amount_minor=5000, currency="EUR",
        fingerprint=fingerprint({"o": 1}), customer_email="buyer@example.com",
        referral_code=advocate.coupon_code,
    )  # fmt: skip
    reward = Reward.objects.get(conversion=conversion, recipient="advocate", kind="cash")
    assert reward.amount_minor == 1500  # the €10.00 rule, times 1.5
    assert balances(advocate=advocate)["cash"]["EUR"]["pending"] == 1500


def test_progress_shows_how_far_the_next_tier_is(advocate, tiers):
    refer(advocate, 3)
    rows = {r["tier"].name: r for r in progress(advocate=advocate)["rows"]}
    assert rows["Silver"]["reached"] and rows["Silver"]["percent"] == 100
    assert (rows["Gold"]["value"], rows["Gold"]["missing"], rows["Gold"]["percent"]) == (3, 1, 75)


def test_a_points_tier_counts_the_points_earned(advocate, program):
    tier = Tier.objects.create(program=program, name="Points", metric="points", threshold=120)
    for i in range(3):
        from rewards.services import reward_issue

        reward_issue(program=program, advocate=advocate, key=f"p{i}", reason="bonus",
                     kind="points", amount_minor=50, currency="PTS", hold_days=0)  # fmt: skip
    assert Standing.objects.get(advocate=advocate).tier == tier
    assert balances(advocate=advocate)["points"]["pending"] == 150
    assert available_points(advocate.pk) == 0  # pending points count too
    assert Referral.objects.count() == 0
