"""The reward rules at their edges: minimums, months, limits and budgets to the instant.

Each test pins a boundary that a small change of the rules engine
(``rewards/rules.py``) would move: ``<`` for ``<=``, a window a moment longer, a
count that starts at 1 instead of 0. Found by mutation testing (docs/testing.md).
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import time_machine

from referrals.models import Conversion
from referrals.services import click_record
from rewards import flows
from rewards.models import Reward, RewardDecision, RewardRule
from tests.helpers import post_conversion
from tests.rewards.test_rules import rule

R = RewardRule
T = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)  # the first instant of May


def buy_at(api, link, when, n, email=None, **extra):
    with time_machine.travel(when, tick=False):
        response = post_conversion(
            api,
            order_id=f"e-{n}",
            referral_code=link.code,
            customer={"email": email or f"friend{n}@example.com"},
            **extra,
        )
    assert response.status_code == 201, response.content
    return response.json()


def given():
    """(order id, kind, amount, currency) of every advocate reward, in order."""
    return [
        (r.conversion.order_id, r.kind, r.amount_minor, r.currency)
        for r in Reward.objects.filter(recipient="advocate").order_by("pk")
    ]


def skipped():
    return list(
        RewardDecision.objects.filter(outcome="skipped")
        .order_by("pk")
        .values_list("reason", flat=True)
    )


def test_an_order_of_exactly_the_minimum_is_rewarded(api, program, link):
    program.reward_rules.all().delete()
    rule(program, min_order_minor=5000, trigger=R.Trigger.EVERY_PURCHASE)
    buy_at(api, link, T, 1, amount="49.99")
    buy_at(api, link, T, 2, amount="50.00")
    assert given() == [("e-2", "cash", 500, "EUR")]
    assert skipped() == ["order below the minimum of 5000"]


def test_an_order_in_another_currency_is_recorded_but_not_rewarded(api, program, link):
    body = buy_at(api, link, T, 1, currency="USD")
    assert body["attributed"] is True
    assert given() == []
    assert skipped() == ["order in USD; the program rewards EUR orders"]


def test_an_order_without_a_customer_is_the_first_purchase(api, program, link):
    """No e-mail, no id: no friend to count purchases of, so it is a first purchase."""
    with time_machine.travel(T, tick=False):
        response = post_conversion(api, referral_code=link.code, customer={})
    assert response.status_code == 201
    assert given() == [("order-1", "cash", 1000, "EUR")]
    assert Reward.objects.get().referral_id is None


def _status(advocate, status):
    advocate.status = status
    advocate.save(update_fields=["status"])


def test_a_repeat_purchase_is_counted_among_the_friends_attributed_orders(api, program, link):
    """Purchase numbers count this friend's attributed orders: not another friend's, not
    the order made while the advocate was paused (recorded under the friend, unrewarded)."""
    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.EVERY_PURCHASE, max_purchases=2, amount_minor=300)
    buy_at(api, link, T, 1, email="friend@example.com")
    buy_at(api, link, T, 2, email="other@example.com")
    _status(link.advocate, "paused")
    paused = buy_at(api, link, T, 3, email="friend@example.com")
    assert paused["attributed"] is False
    _status(link.advocate, "active")
    buy_at(api, link, T, 4, email="friend@example.com")  # the friend's second: rewarded
    buy_at(api, link, T, 5, email="friend@example.com")  # the third: past the limit
    assert [(o, a) for o, _, a, _ in given()] == [("e-1", 300), ("e-2", 300), ("e-4", 300)]
    assert skipped() == ["purchase #3 is past the limit of 2"]
    referrals = Conversion.objects.filter(order_id__in=["e-1", "e-3"]).values_list(
        "referral_id", flat=True
    )
    assert len(set(referrals)) == 1  # the paused order is the friend's too


def test_a_reattributed_order_counts_only_the_friends_orders_up_to_it(api, program, link):
    """An order made while the advocate was paused, attributed later by a manager, is the
    friend's first purchase even though a second one was rewarded since."""
    from rewards.flows import conversion_reattribute

    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.EVERY_PURCHASE, max_purchases=1, amount_minor=300)
    _status(link.advocate, "paused")
    buy_at(api, link, T, 1, email="friend@example.com")
    _status(link.advocate, "active")
    buy_at(api, link, T, 2, email="friend@example.com")
    with time_machine.travel(T, tick=False):
        conversion_reattribute(
            program=program, order_id="e-1", advocate_id=link.advocate.pk, reason="phoned in"
        )
    assert [(o, a) for o, _, a, _ in given()] == [("e-2", 300), ("e-1", 300)]


def test_a_purchase_exactly_max_months_after_the_first_is_still_rewarded(api, program, link):
    """Months are 30 days: with ``max_months`` 2, day 60 after the first purchase counts,
    a moment later does not."""
    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.EVERY_PURCHASE, max_months=2, amount_minor=200)
    friend = "friend@example.com"
    buy_at(api, link, T, 1, email=friend)
    buy_at(api, link, T + timedelta(days=60), 2, email=friend)
    buy_at(api, link, T + timedelta(days=60, microseconds=1), 3, email=friend)
    assert [(o, a) for o, _, a, _ in given()] == [("e-1", 200), ("e-2", 200)]
    assert skipped() == ["more than 2 months after the first purchase"]


def test_limit_per_day_counts_a_reward_exactly_24_hours_old(api, program, link):
    """ "In the last 24 hours" includes its first instant: at T + 24 h the reward at T
    still counts; a moment later it does not."""
    program.reward_rules.all().delete()
    rule(program, limit_per_day=1)
    buy_at(api, link, T, 1)
    buy_at(api, link, T + timedelta(days=1), 2)
    buy_at(api, link, T + timedelta(days=1, microseconds=1), 3)
    assert [o for o, *_ in given()] == ["e-1", "e-3"]
    assert skipped() == ["limit of 1 rewards per day reached"]


def test_limit_lifetime_counts_every_reward_of_the_rule(api, program, link):
    program.reward_rules.all().delete()
    rule(program, limit_lifetime=2)
    for n, days in enumerate((0, 40, 80), start=1):
        buy_at(api, link, T + timedelta(days=days), n)
    assert [o for o, *_ in given()] == ["e-1", "e-2"]
    assert skipped() == ["limit of 2 rewards in total reached"]


def test_limit_per_month_counts_from_the_months_first_instant(api, program, link):
    program.reward_rules.all().delete()
    rule(program, limit_per_month=1)
    buy_at(api, link, T, 1)
    buy_at(api, link, T + timedelta(days=5, hours=1, minutes=1, seconds=1, microseconds=1), 2)
    assert [o for o, *_ in given()] == ["e-1"]
    assert skipped() == ["limit of 1 rewards per month reached"]


def test_limits_count_the_rules_own_rewards_to_this_advocate(api, program, link):
    """Another rule's rewards, another advocate's, and the friend's side of a double-sided
    rule do not use up a rule's limit."""
    from advocacy.services import advocate_enroll

    program.reward_rules.all().delete()
    rule(program, name="other rule", amount_minor=100)
    rule(program, name="limited", amount_minor=200, limit_lifetime=1)
    rule(program, name="tote", kind=R.Kind.PERK, recipient=R.Recipient.BOTH,
         perk_description="Tote", amount_minor=0, limit_lifetime=2)  # fmt: skip
    bob, _ = advocate_enroll(program=program, email="bob@example.com", name="Bob")
    buy_at(api, bob.links.get(), T, 1)
    buy_at(api, link, T, 2)
    buy_at(api, link, T, 3)
    alices = Reward.objects.filter(advocate=link.advocate, recipient="advocate").order_by("pk")
    assert [(r.conversion.order_id, r.rule.name) for r in alices] == [
        ("e-2", "other rule"),
        ("e-2", "limited"),
        ("e-2", "tote"),
        ("e-3", "other rule"),
        ("e-3", "tote"),
    ]
    assert skipped() == ["limit of 1 rewards in total reached"]


def test_a_reward_that_fills_the_budget_exactly_is_given(api, program, link):
    """Budget 10.00, nothing spent yet this month: a 10.00 reward fits, the next does not."""
    program.monthly_budget_minor = 1000
    program.save()
    buy_at(api, link, T + timedelta(days=3), 1)
    buy_at(api, link, T + timedelta(days=3), 2)
    assert [(o, a) for o, _, a, _ in given()] == [("e-1", 1000)]
    assert skipped() == ["monthly budget exhausted (1000 of 1000 used)"]


def test_the_budget_month_starts_at_its_first_instant(api, program, link):
    """A reward at 1 May 00:00:00.000000 is May's; one a microsecond earlier is April's."""
    program.monthly_budget_minor = 1000
    program.save()
    buy_at(api, link, T - timedelta(microseconds=1), 1)  # April: does not count in May
    buy_at(api, link, T, 2)  # uses all of May's budget
    last = timedelta(days=30, hours=23, minutes=59, seconds=59, microseconds=999999)
    buy_at(api, link, T + last, 3)  # the last instant of May
    assert [o for o, *_ in given()] == ["e-1", "e-2"]
    assert skipped() == ["monthly budget exhausted (1000 of 1000 used)"]


def test_a_budget_counts_cash_only_not_points(api, program, link):
    program.reward_rules.all().delete()
    program.monthly_budget_minor = 500
    program.save()
    rule(program, name="points", kind=R.Kind.POINTS, points=5000, amount_minor=0)
    rule(program, name="cash", amount_minor=500)
    buy_at(api, link, T, 1)
    assert [(k, a, c) for _, k, a, c in given()] == [("points", 5000, "PTS"), ("cash", 500, "EUR")]
    assert skipped() == []


def test_a_commission_that_rounds_to_zero_is_skipped_and_one_cent_is_paid(api, program, link):
    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.EVERY_PURCHASE, kind=R.Kind.COMMISSION,
         percent=Decimal("1"), amount_minor=0)  # fmt: skip
    buy_at(api, link, T, 1, amount="0.99")  # 0.99 cent
    buy_at(api, link, T, 2, amount="1.00")  # 1 cent
    assert given() == [("e-2", "cash", 1, "EUR")]
    assert skipped() == ["commission rounds to zero"]


def test_coupons_and_perks_carry_no_amount(api, program, link):
    program.reward_rules.all().delete()
    rule(program, name="tote", kind=R.Kind.PERK, perk_description="Tote", amount_minor=0)
    rule(program, name="code", kind=R.Kind.COUPON, recipient=R.Recipient.FRIEND,
         coupon_percent_off=15, amount_minor=0)  # fmt: skip
    buy_at(api, link, T, 1)
    rewards = Reward.objects.order_by("pk").values_list(
        "recipient", "kind", "amount_minor", "currency"
    )
    assert list(rewards) == [("advocate", "perk", 0, ""), ("friend", "coupon", 0, "")]


def test_a_budget_counts_this_programs_cash_in_its_currency_only(api, program, link):
    """Another program's rewards and cash in another currency (a program that changed
    currency) do not use this month's budget."""
    from advocacy.services import advocate_enroll
    from rewards.services import program_create_with_offer, reward_issue

    program.monthly_budget_minor = 1000
    program.save()
    twin, _, _ = program_create_with_offer(
        name="Twin", landing_url="https://twin.example.com/", currency="EUR"
    )
    twins_advocate, _ = advocate_enroll(program=twin, email="tom@example.com", name="Tom")
    with time_machine.travel(T, tick=False):
        reward_issue(program=twin, advocate=twins_advocate, key="twin", reason="twin",
                     amount_minor=5000, currency="EUR")  # fmt: skip
        reward_issue(program=program, advocate=link.advocate, key="usd", reason="before",
                     amount_minor=5000, currency="USD")  # fmt: skip
    buy_at(api, link, T + timedelta(days=1), 1)
    issued = Reward.objects.filter(conversion__order_id="e-1").values_list(
        "amount_minor", "currency"
    )
    assert list(issued) == [(1000, "EUR")]
    assert skipped() == []


def test_months_are_counted_from_this_friends_first_attributed_purchase(api, program, link):
    """Not from another friend's purchase, nor from an order made while the advocate
    was paused: the subscription's months start at the friend's first rewarded order."""
    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.EVERY_PURCHASE, max_months=2, amount_minor=200)
    buy_at(api, link, T - timedelta(days=200), 0, email="other@example.com")
    with time_machine.travel(T - timedelta(days=91), tick=False):
        flows.referral_create(program=program, friend_email="bob@example.com",
                              referral_code=link.code)  # fmt: skip
    _status(link.advocate, "paused")
    assert (
        buy_at(api, link, T - timedelta(days=90), 1, email="bob@example.com")["attributed"] is False
    )
    _status(link.advocate, "active")
    with time_machine.travel(T, tick=False):
        click_id = click_record(link=link)
    body = buy_at(api, link, T, 2, email="bob@example.com", click_id=str(click_id))
    assert body["attributed"] is True
    buy_at(api, link, T + timedelta(days=50), 3, email="bob@example.com")
    assert [o for o, *_ in given()] == ["e-0", "e-2", "e-3"]
    assert skipped() == []


def test_a_milestone_counts_this_advocates_converted_friends_only(api, program, link):
    """Bob's converted friend and Alice's friend who only signed up do not count; a
    repeat purchase never counts; each skip says why."""
    from advocacy.services import advocate_enroll

    program.reward_rules.all().delete()
    rule(program, name="2 friends", trigger=R.Trigger.MILESTONE, milestone_count=2,
         amount_minor=2500)  # fmt: skip
    bob, _ = advocate_enroll(program=program, email="bob@example.com", name="Bob")
    buy_at(api, bob.links.get(), T, 1, email="b1@example.com")
    with time_machine.travel(T, tick=False):
        flows.referral_create(program=program, friend_email="a0@example.com",
                              referral_code=link.code)  # fmt: skip
    buy_at(api, link, T, 2, email="a1@example.com")
    buy_at(api, link, T, 3, email="a1@example.com")
    buy_at(api, link, T, 4, email="a2@example.com")
    alices = Reward.objects.filter(advocate=link.advocate).values_list("amount_minor", flat=True)
    assert list(alices) == [2500]
    assert Reward.objects.get(advocate=link.advocate).conversion.order_id == "e-4"
    assert skipped() == [
        "1 successful referrals, milestone is 2",  # Bob's first friend
        "1 successful referrals, milestone is 2",  # Alice's first
        "milestones count friends' first purchases only",
    ]


def test_a_rejected_or_unverified_sign_up_earns_no_sign_up_reward(program, advocate, link):
    """A self-referral is rejected though vouched for; a browser's sign-up without a click
    is not rejected but unverified: either alone keeps the sign-up rules from running."""
    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.SIGNUP, amount_minor=300)
    own, _ = flows.referral_create(
        program=program, referral_code=link.code, friend_email="alice@example.com"
    )
    unvouched, _ = flows.referral_create(
        program=program, referral_code=link.code, friend_email="bob@example.com", from_browser=True
    )
    assert (own.status, own.verified) == ("rejected", True)
    assert (unvouched.status, unvouched.verified) == ("signed_up", False)
    assert not Reward.objects.exists()
    assert not RewardDecision.objects.exists()
    vouched, _ = flows.referral_create(
        program=program, referral_code=link.code, friend_email="carol@example.com"
    )
    assert [(r.referral_id, r.amount_minor) for r in Reward.objects.all()] == [(vouched.pk, 300)]
    decision = RewardDecision.objects.get()
    assert (decision.event, decision.referral_id, decision.conversion_id) == (
        "signup",
        vouched.pk,
        None,
    )


def test_a_purchase_reward_and_its_decision_name_the_friends_referral(api, program, link):
    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.EVERY_PURCHASE, amount_minor=300)
    buy_at(api, link, T, 1, email="friend@example.com")
    buy_at(api, link, T + timedelta(days=1), 2, email="friend@example.com")
    conversions = Conversion.objects.order_by("pk")
    referral_id = conversions[0].referral_id
    assert referral_id is not None and conversions[1].referral_id == referral_id
    rewards = Reward.objects.order_by("pk")
    assert [(r.referral_id, r.conversion_id) for r in rewards] == [
        (referral_id, c.pk) for c in conversions
    ]
    decisions = RewardDecision.objects.order_by("pk")
    assert [(d.event, d.referral_id, d.conversion_id, d.reward_id) for d in decisions] == [
        ("purchase", referral_id, c.pk, r.pk) for c, r in zip(conversions, rewards, strict=True)
    ]


def test_an_order_reattributed_to_another_advocate_earns_them_a_new_reward(api, program, link):
    """The first advocate's reward is reversed and the rules give the new one their own:
    its key names the override, or it would be taken for the reward already given."""
    from tests.factories import enroll

    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.EVERY_PURCHASE, amount_minor=300)
    bob = enroll(program, "bob@example.com")
    buy_at(api, link, T, 1, email="friend@example.com")
    with time_machine.travel(T, tick=False):
        flows.conversion_reattribute(
            program=program, order_id="e-1", advocate_id=bob.pk, reason="phoned in"
        )
    assert [(r.advocate_id, r.amount_minor, r.status) for r in Reward.objects.order_by("pk")] == [
        (link.advocate.pk, 300, "reversed"),
        (bob.pk, 300, "pending"),
    ]


def test_a_double_sided_rule_rewards_the_friend_when_the_advocates_side_is_skipped(
    api, program, link
):
    """The advocate's limit is reached on the second friend; that friend still gets theirs."""
    program.reward_rules.all().delete()
    rule(program, name="tote", kind=R.Kind.PERK, recipient=R.Recipient.BOTH,
         perk_description="Tote", amount_minor=0, limit_lifetime=1)  # fmt: skip
    buy_at(api, link, T, 1)
    buy_at(api, link, T, 2)
    assert [(r.conversion.order_id, r.recipient) for r in Reward.objects.order_by("pk")] == [
        ("e-1", "advocate"),
        ("e-1", "friend"),
        ("e-2", "friend"),
    ]
    assert list(
        RewardDecision.objects.order_by("pk").values_list("recipient", "outcome", "reason")
    )[2:] == [
        ("advocate", "skipped", "limit of 1 rewards in total reached"),
        ("friend", "applied", "tote: friend's first purchase (order e-2)"),
    ]


def test_each_milestone_rule_rewards_its_own_milestone(api, program, link):
    """Two milestones of one advocate are two rewards: each key names its rule."""
    program.reward_rules.all().delete()
    rule(program, name="1 friend", trigger=R.Trigger.MILESTONE, milestone_count=1,
         amount_minor=100)  # fmt: skip
    rule(program, name="2 friends", trigger=R.Trigger.MILESTONE, milestone_count=2,
         amount_minor=2500)  # fmt: skip
    buy_at(api, link, T, 1, email="a1@example.com")
    buy_at(api, link, T, 2, email="a2@example.com")
    assert [(o, a) for o, _, a, _ in given()] == [("e-1", 100), ("e-2", 2500)]


def test_an_order_reattributed_to_a_paused_advocate_earns_nothing_and_says_why(api, program, link):
    """A manager may give an order to a paused advocate: the rules run and skip, each
    decision naming the advocate's status."""
    from tests.factories import enroll

    program.reward_rules.all().delete()
    rule(program, trigger=R.Trigger.EVERY_PURCHASE, amount_minor=300)
    bob = enroll(program, "bob@example.com")
    _status(bob, "paused")
    buy_at(api, link, T, 1, email="friend@example.com")
    with time_machine.travel(T, tick=False):
        flows.conversion_reattribute(
            program=program, order_id="e-1", advocate_id=bob.pk, reason="phoned in"
        )
    assert not Reward.objects.filter(advocate=bob).exists()
    assert skipped() == ["advocate is paused"]


def test_two_rules_and_both_sides_each_reward_the_same_order(api, program, link):
    """Every reward's key names its rule and recipient, not only the order."""
    program.reward_rules.all().delete()
    rule(program, name="cash", trigger=R.Trigger.EVERY_PURCHASE, amount_minor=300)
    rule(program, name="tote", kind=R.Kind.PERK, recipient=R.Recipient.BOTH,
         trigger=R.Trigger.EVERY_PURCHASE, perk_description="Tote", amount_minor=0)  # fmt: skip
    buy_at(api, link, T, 1)
    assert [
        (r.conversion.order_id, r.rule.name, r.recipient) for r in Reward.objects.order_by("pk")
    ] == [("e-1", "cash", "advocate"), ("e-1", "tote", "advocate"), ("e-1", "tote", "friend")]


def test_a_milestone_reached_again_is_not_rewarded_again(api, program, link):
    """A friend's referral rejected after the milestone (fraud, a manager) brings the
    count down; the next friend brings it back up: the order is recorded, the milestone
    is not paid twice (the reward's key is looked up, not left to the unique index)."""
    from referrals.models import Referral

    program.reward_rules.all().delete()
    rule(program, name="2 friends", trigger=R.Trigger.MILESTONE, milestone_count=2,
         amount_minor=2500)  # fmt: skip
    buy_at(api, link, T, 1, email="a1@example.com")
    buy_at(api, link, T, 2, email="a2@example.com")
    Referral.objects.filter(friend_email_normalized="a1@example.com").update(status="rejected")
    buy_at(api, link, T, 3, email="a3@example.com")
    assert [(o, a) for o, _, a, _ in given()] == [("e-2", 2500)]
    assert Conversion.objects.get(order_id="e-3").attributed


def test_an_offer_variant_sets_the_advocates_cash(api, program, link):
    """The advocate's cash follows their offer variant (rules.py passes the recipient on)."""
    from measurement.models import Experiment

    program.reward_rules.all().delete()
    rule(program, amount_minor=1000)
    e = Experiment.objects.create(
        program=program, name="Reward size", kind="offer", holdout_percent=0, status="running"
    )
    e.variants.create(key="fifteen", name="15.00", config={"advocate_reward": "15.00"})
    buy_at(api, link, T, 1)
    assert [(o, a) for o, _, a, _ in given()] == [("e-1", 1500)]


def test_only_a_coupon_reward_takes_a_code_and_a_perk_its_description(api, program, link):
    program.reward_rules.all().delete()
    rule(program, name="cash", amount_minor=300)
    rule(program, name="tote", kind=R.Kind.PERK, perk_description="Tote", amount_minor=0)
    rule(program, name="code", kind=R.Kind.COUPON, recipient=R.Recipient.FRIEND,
         coupon_percent_off=10, amount_minor=0)  # fmt: skip
    buy_at(api, link, T, 1)
    rewards = Reward.objects.order_by("pk")
    assert [(r.rule.name, r.coupon_code, r.perk_description) for r in rewards] == [
        ("cash", "", ""),
        ("tote", "", "Tote"),
        ("code", link.advocate.coupon_code, ""),
    ]


def test_a_reward_of_exactly_the_approval_threshold_needs_no_approval(api, program, link):
    program.reward_rules.all().delete()
    for amount in (1000, 1001):
        rule(program, name=f"{amount}", trigger=R.Trigger.EVERY_PURCHASE, amount_minor=amount,
             approval_above_minor=1000)  # fmt: skip
    buy_at(api, link, T, 1)
    assert sorted(Reward.objects.values_list("amount_minor", "requires_approval")) == [
        (1000, False),
        (1001, True),
    ]
