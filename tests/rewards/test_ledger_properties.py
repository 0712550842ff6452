"""Property-based tests: random sequences of money events keep the books straight."""

import itertools

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from advocacy.services import advocate_enroll
from core.errors import ServiceError
from core.hashing import fingerprint
from referrals.models import Conversion
from rewards import catalog, ledger, payouts, services
from rewards.flows import conversion_record, conversion_refund
from rewards.models import (
    CatalogItem,
    LedgerEntry,
    Payout,
    PayoutAccount,
    Reward,
    RewardRule,
)
from rewards.services import program_create_with_offer

counter = itertools.count()


class Books(RuleBasedStateMachine):
    """One program, two advocates; purchases, refunds, maturing, redemptions, payouts."""

    def __init__(self):
        super().__init__()
        n = next(counter)
        self.program, _, _ = program_create_with_offer(
            name=f"Books {n}",
            landing_url="https://shop.example.com/",
            advocate_reward_minor=700,
            hold_days=0,
        )
        self.program.min_payout_minor = 500
        self.program.save()
        RewardRule.objects.create(
            program=self.program, name="points", trigger="every_purchase",
            recipient="advocate", kind="points", points=30,
        )  # fmt: skip
        RewardRule.objects.create(
            program=self.program, name="commission", trigger="every_purchase",
            recipient="advocate", kind="commission", percent=7,
        )  # fmt: skip
        self.advocates = []
        for i in range(2):
            advocate, _ = advocate_enroll(program=self.program, email=f"adv{i}-{n}@example.com")
            PayoutAccount.objects.create(
                advocate=advocate, stripe_account_id=f"acct_{n}_{i}", payouts_enabled=True
            )
            self.advocates.append(advocate)
        self.item = CatalogItem.objects.create(
            program=self.program, name="Mug", kind="perk", points_price=45
        )
        self.orders = []
        self.snapshot: dict[int, tuple] = {}

    @rule(
        who=st.integers(0, 1),
        friend=st.integers(0, 3),
        amount=st.integers(1, 50_000),
    )
    def purchase(self, who, friend, amount):
        advocate = self.advocates[who]
        order_id = f"o{len(self.orders)}"
        conversion_record(
            program=self.program,
            order_id=order_id,
            amount_minor=amount,
            currency="EUR",
            fingerprint=fingerprint({"o": order_id}),
            customer_email=f"friend{friend}-{who}@example.com",
            referral_code=advocate.coupon_code,
        )
        self.orders.append(order_id)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), whole=st.booleans())
    def refund(self, data, whole):
        order_id = data.draw(st.sampled_from(self.orders))
        conversion = Conversion.objects.get(program=self.program, order_id=order_id)
        left = conversion.amount_minor - conversion.refunded_minor
        if left == 0:
            return
        amount = None if whole else data.draw(st.integers(1, left))
        conversion_refund(program=self.program, order_id=order_id, amount_minor=amount)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), parts=st.integers(2, 4))
    def refund_in_parts(self, data, parts):
        """Several partial refunds of one order in a row (together still partial, or whole)."""
        order_id = data.draw(st.sampled_from(self.orders))
        conversion = Conversion.objects.get(program=self.program, order_id=order_id)
        left = conversion.amount_minor - conversion.refunded_minor
        if left < parts:
            return
        cuts = data.draw(
            st.lists(st.integers(1, left), min_size=parts - 1, max_size=parts - 1, unique=True)
        )
        edges = [0, *sorted(cuts)]
        for start, end in itertools.pairwise(edges):
            conversion_refund(program=self.program, order_id=order_id, amount_minor=end - start)

    @rule()
    def mature(self):
        for pk in services.reward_ids_due():
            services.reward_mature(reward_id=pk)

    @rule(who=st.integers(0, 1), key=st.integers(0, 5))
    def redeem(self, who, key):
        advocate = self.advocates[who]
        before = ledger.available_points(advocate.pk)
        try:
            catalog.points_redeem(
                advocate=self.advocates[who],
                item=self.item,
                idempotency_key=f"{self.program.pk}-{who}-{key}",
            )
        except ServiceError as exc:
            assert exc.code == "insufficient_points"
            assert before < self.item.points_price
        else:
            # A redemption never overdraws; a later refund may still claw points back.
            assert ledger.available_points(advocate.pk) >= 0 or before < 0

    @rule(who=st.integers(0, 1), outcome=st.sampled_from(["paid", "failed", "open"]))
    def payout(self, who, outcome):
        payout = payouts.payout_create(advocate_id=self.advocates[who].pk, currency="EUR")
        if payout is None:
            return
        if outcome == "paid":
            payouts.payout_mark_paid(payout_id=payout.pk, transfer_id=f"tr_{payout.pk}")
            payouts.payout_mark_paid(payout_id=payout.pk, transfer_id=f"tr_{payout.pk}")
        elif outcome == "failed":
            payouts.payout_fail(payout_id=payout.pk, reason="account closed")

    @invariant()
    def entries_are_never_changed(self):
        current = {
            e.pk: (e.kind, e.bucket, e.amount_minor, e.currency, e.idempotency_key)
            for e in LedgerEntry.objects.filter(program=self.program)
        }
        for pk, row in self.snapshot.items():
            assert current[pk] == row
        self.snapshot = current

    @invariant()
    def buckets_stay_consistent(self):
        for advocate in self.advocates:
            sums = {
                (r["currency"], r["bucket"]): r["total"]
                for r in LedgerEntry.objects.filter(advocate=advocate)
                .values("currency", "bucket")
                .annotate(total=Sum("amount_minor"))
            }
            for (currency, bucket), total in sums.items():
                if bucket in ("pending", "in_payout", "paid"):
                    assert total >= 0, (currency, bucket, total)
            paid = sum(
                Payout.objects.filter(advocate=advocate, status="paid").values_list(
                    "amount_minor", flat=True
                )
            )
            assert sums.get(("EUR", "paid"), 0) == paid
            open_total = sum(
                Payout.objects.filter(advocate=advocate, status__in=Payout.OPEN).values_list(
                    "amount_minor", flat=True
                )
            )
            assert sums.get(("EUR", "in_payout"), 0) == open_total

    @invariant()
    def money_is_conserved(self):
        # Every cent on the books comes from a reward, net of its reversals;
        # payouts and redemptions only move it between buckets (or spend points).
        for currency in ("EUR", "PTS"):
            on_books = (
                LedgerEntry.objects.filter(program=self.program, currency=currency)
                .exclude(kind__in=["redemption", "redemption_refunded"])
                .aggregate(t=Sum("amount_minor"))["t"]
                or 0
            )
            earned = sum(
                r.amount_minor - r.reversed_minor
                for r in Reward.objects.filter(program=self.program, currency=currency)
            )
            assert on_books == earned

    @invariant()
    def refunds_are_reversed(self):
        for conversion in Conversion.objects.filter(program=self.program, status="refunded"):
            for reward in conversion.rewards.all():
                assert reward.reversed_minor == reward.amount_minor
                assert reward.status == "reversed"

    @invariant()
    def reversals_follow_the_refunded_share(self):
        # However a refund is split, a reward's reversed part is the refunded share
        # of the order, rounded down (towards the advocate): docs/rewards.md.
        for conversion in Conversion.objects.filter(program=self.program, refunded_minor__gt=0):
            for reward in conversion.rewards.filter(kind__in=Reward.BALANCE_KINDS):
                share = reward.amount_minor * conversion.refunded_minor // conversion.amount_minor
                assert reward.reversed_minor == share, (reward.pk, reward.reversed_minor, share)
                reversals = LedgerEntry.objects.filter(
                    reward=reward, kind__in=["reward_reversed", "clawback"]
                )
                assert -sum(e.amount_minor for e in reversals) == share

    @invariant()
    def nothing_is_paid_twice(self):
        transfers = list(
            Payout.objects.filter(program=self.program)
            .exclude(stripe_transfer_id="")
            .values_list("stripe_transfer_id", flat=True)
        )
        assert len(transfers) == len(set(transfers))


@pytest.mark.django_db
def test_the_books_balance_under_any_sequence_of_events():
    Books.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Books.TestCase().runTest()
