"""The books property test of tests/rewards, with VIP tiers and challenges mixed in:
random purchases, refunds, payouts, redemptions, challenge approvals and tier changes
keep every invariant, the multiplier scales exactly what the rules give, and each
approved challenge is paid its points exactly once."""

from decimal import ROUND_DOWN, Decimal

import pytest
from django.test import TestCase
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from nurture import services as nurture_services
from nurture.models import Challenge, ChallengeSubmission, Standing, Tier
from nurture.tiers import _best, progress, tier_multiplier
from rewards.models import LedgerEntry, Reward
from tests.rewards.test_ledger_properties import Books


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


class BooksWithNurture(Books):
    def __init__(self):
        super().__init__()
        Tier.objects.create(program=self.program, name="Silver", rank=1, metric="points",
                            threshold=60, multiplier=Decimal("1.50"), entry_points=25)  # fmt: skip
        Tier.objects.create(program=self.program, name="Gold", rank=2, metric="referrals",
                            threshold=3, multiplier=Decimal("2.00"))  # fmt: skip
        self.challenges = [
            Challenge.objects.create(
                program=self.program,
                kind="survey",
                title=f"Q{i}",
                points=10 + 7 * i,
                question="Why?",
            )
            for i in range(3)
        ]

    @rule(
        who=st.integers(0, 1),
        friend=st.integers(0, 3),
        amount=st.integers(1, 50_000),
    )
    def purchase(self, who, friend, amount):
        advocate = self.advocates[who]
        factor = tier_multiplier(advocate=advocate)
        before = set(Reward.objects.filter(advocate=advocate).values_list("pk", flat=True))
        with TestCase.captureOnCommitCallbacks(execute=True):  # as after a real commit
            super().purchase(who, friend, amount)
        for reward in Reward.objects.filter(advocate=advocate, rule__isnull=False).exclude(
            pk__in=before
        ):
            if reward.recipient != "advocate" or reward.kind not in ("cash", "points"):
                continue
            rule_ = reward.rule
            if rule_.kind == "commission":
                base = _floor(Decimal(amount) * rule_.percent / 100)
            elif rule_.kind == "points":
                base = rule_.points
            else:
                base = rule_.amount_minor
            assert reward.amount_minor == _floor(Decimal(base) * factor), (rule_.kind, factor)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), whole=st.booleans())
    def refund(self, data, whole):
        with TestCase.captureOnCommitCallbacks(execute=True):
            super().refund(data, whole)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), parts=st.integers(2, 4))
    def refund_in_parts(self, data, parts):
        with TestCase.captureOnCommitCallbacks(execute=True):
            super().refund_in_parts(data, parts)

    @rule(who=st.integers(0, 1), which=st.integers(0, 2), approve=st.booleans())
    def challenge(self, who, which, approve):
        advocate, challenge = self.advocates[who], self.challenges[which]
        entry = (
            ChallengeSubmission.objects.filter(advocate=advocate, challenge=challenge)
            .exclude(status="rejected")
            .first()
        )
        if entry is None:
            if not advocate.can_earn:
                return
            entry = nurture_services.challenge_submit(
                advocate=advocate, challenge=challenge, answer="Because."
            )
        if approve:
            nurture_services.submission_approve(submission_id=entry.pk)
        else:
            nurture_services.submission_reject(submission_id=entry.pk, reason="Not this time")

    @invariant()
    def approved_challenges_are_paid_once_unmultiplied(self):
        for entry in ChallengeSubmission.objects.filter(challenge__program=self.program):
            rewards = Reward.objects.filter(idempotency_key=f"challenge-submission:{entry.pk}")
            if entry.status == "approved":
                [reward] = rewards
                assert reward.amount_minor == entry.challenge.points == reward.amount_minor
                issued = LedgerEntry.objects.filter(reward=reward, kind="reward_issued")
                assert [e.amount_minor for e in issued] == [entry.challenge.points]
            else:
                assert not rewards.exists()

    @invariant()
    def each_advocate_holds_the_tier_they_earned(self):
        for advocate in self.advocates:
            standing = Standing.objects.filter(advocate=advocate).first()
            best = _best(progress(advocate=advocate)["rows"])
            held = standing.tier if standing else None
            assert held == best
            if standing is not None and best is not None:
                assert standing.multiplier == best.multiplier

    @invariant()
    def entry_points_are_given_at_most_once_per_tier(self):
        keys = list(
            Reward.objects.filter(
                program=self.program, idempotency_key__startswith="tier-entry:"
            ).values_list("idempotency_key", flat=True)
        )
        assert len(keys) == len(set(keys))


@pytest.mark.django_db
def test_the_books_balance_with_tiers_and_challenges():
    BooksWithNurture.TestCase.settings = settings(
        max_examples=20,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    BooksWithNurture.TestCase().runTest()
