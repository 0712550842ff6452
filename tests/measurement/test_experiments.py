"""Experiments: sticky assignment, a holdout, probability to be best, the stopping rule."""

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from django.utils import translation

from advocacy.models import AuditLog
from measurement import experiments
from measurement.models import Experiment
from tests.factories import enroll

from . import factories as f


def experiment(program, holdout=0, **kwargs):
    e = Experiment.objects.create(
        program=program, name="Reward size", kind="offer", holdout_percent=holdout, **kwargs
    )
    e.variants.create(key="ten", name="10.00", config={"advocate_reward": "10.00"})
    e.variants.create(key="fifteen", name="15.00", config={"advocate_reward": "15.00"})
    return e


def test_assignment_is_sticky_and_follows_the_holdout_share(program):
    e = experiment(program, holdout=20)
    first = {
        k: experiments.assignment_get_or_create(experiment=e, subject_key=k).variant_id
        for k in (f"s{i}" for i in range(1000))
    }
    again = {
        k: experiments.assignment_get_or_create(experiment=e, subject_key=k).variant_id
        for k in first
    }
    assert first == again
    assert e.assignments.count() == 1000
    shares = Counter(first.values())
    # 20 % holdout, the rest split evenly: within a few points of 200 / 400 / 400.
    assert 160 <= shares[None] <= 240
    assert all(340 <= n <= 460 for k, n in shares.items() if k is not None)


def test_the_clear_winner_is_best_and_the_rule_says_stop(program):
    e = experiment(program)
    ten, fifteen = e.variants.all()
    when = datetime(2026, 3, 1, tzinfo=UTC)
    # 200 advocates per arm; 10 % of "ten" and 30 % of "fifteen" bring a buyer.
    for arm, rate in ((ten, 10), (fifteen, 30)):
        for i in range(200):
            advocate = enroll(program, f"{arm.key}{i}@example.com")
            e.assignments.create(
                subject_key=str(advocate.pk), advocate=advocate, variant=arm, assigned_at=when
            )
            if i < 2 * rate:
                order = f.backfilled_order(program, f"{arm.key}-{i}", 1000, when, external_id="x")
                type(order).objects.filter(pk=order.pk).update(
                    attributed=True, advocate=advocate, backfill=False
                )
    results = experiments.experiment_results(e)
    arms = {a.key: a for a in results["arms"]}
    assert (arms["ten"].rate, arms["fifteen"].rate) == (10.0, 30.0)
    assert arms["fifteen"].p_best > 99.9
    low, high = arms["fifteen"].interval
    assert low < 30.0 < high
    assert results["leader"] == "fifteen" and results["stop"]

    experiments.experiment_promote(experiment=e, variant=arms_variant(e, "fifteen"))
    e.refresh_from_db()
    assert e.winner.key == "fifteen" and e.status == "stopped"
    assert AuditLog.objects.filter(object_id=str(e.pk)).exists()


def arms_variant(e, key):
    return e.variants.get(key=key)


def test_too_few_subjects_means_keep_running(program):
    e = experiment(program)
    for i, arm in enumerate(e.variants.all()):
        e.assignments.create(subject_key=f"s{i}", variant=arm)
    results = experiments.experiment_results(e)
    assert not results["stop"]
    assert all(45 <= a.p_best <= 55 for a in results["arms"])  # nothing to tell them apart


def test_the_holdout_measures_incrementality(program):
    e = experiment(program, holdout=50)
    when = datetime(2026, 3, 1, tzinfo=UTC)
    treated = enroll(program, "t@example.com", external_id="t")
    held = enroll(program, "h@example.com", external_id="h")
    e.assignments.create(subject_key="t", advocate=treated, variant=e.variants.first(),
                         assigned_at=when)  # fmt: skip
    e.assignments.create(subject_key="h", advocate=held, variant=None, assigned_at=when)
    f.backfilled_order(program, "own-t", 1000, when, external_id="t")
    inc = experiments.experiment_results(e)["incrementality"]
    assert inc == {
        "treated_subjects": 1,
        "treated_purchase_rate": 100.0,
        "holdout_subjects": 1,
        "holdout_purchase_rate": 0.0,
    }


def test_an_offer_experiment_changes_what_each_advocate_reads_and_earns(program):
    """The arm is fixed at first sight; the portal's offer and the reward follow it, and
    the results count the real purchases."""
    from rewards import flows
    from rewards.models import Reward
    from rewards.offers import offer_sentences

    e = experiment(program, status="running")
    advocates = [enroll(program, f"a{i}@example.com") for i in range(12)]
    arms = {a.pk: experiments.advocate_offer(advocate=a) for a in advocates}
    assert {o["advocate_reward_minor"] for o in arms.values()} == {1000, 1500}
    for i, a in enumerate(advocates):
        amount = arms[a.pk]["advocate_reward_minor"]
        shown = "€15.00" if amount == 1500 else "€10.00"
        with translation.override("en"):
            sentences = offer_sentences(program=program, advocate=a)
        assert any(shown in s for s in sentences), sentences
        flows.conversion_record(
            program=program,
            order_id=f"o{i}",
            amount_minor=5000,
            currency="EUR",
            fingerprint=f"fp{i}",
            customer_email=f"friend{i}@example.com",
            referral_code=a.links.get().code,
        )
        reward = Reward.objects.get(advocate=a, recipient="advocate")
        assert reward.amount_minor == amount  # the variant's amount, not the rule's 10.00
        assert experiments.advocate_offer(advocate=a) == arms[a.pk]  # sticky
    results = {arm.key: arm for arm in experiments.experiment_results(e)["arms"]}
    fifteen = sum(1 for o in arms.values() if o["advocate_reward_minor"] == 1500)
    assert results["fifteen"].subjects == results["fifteen"].converted == fifteen
    assert results["ten"].converted == 12 - fifteen
    # Promoting the winner gives everyone its offer, also advocates who join later.
    experiments.experiment_promote(experiment=e, variant=e.variants.get(key="fifteen"))
    late = enroll(program, "late@example.com")
    assert experiments.advocate_offer(advocate=late) == {"advocate_reward_minor": 1500}


def test_a_bad_variant_config_never_stops_a_reward(program):
    assert experiments.variant_offer({"advocate_reward": "lots"}, "EUR") == {}
    assert experiments.variant_offer({"commission_percent": "-5"}, "EUR") == {}
    assert experiments.variant_offer({"commission_percent": "12.5"}, "EUR") == {
        "commission_percent": Decimal("12.5")
    }


def test_a_share_copy_experiment_changes_the_texts_each_advocate_shares(program):
    from portal.selectors import dashboard
    from storefront.selectors import widget_context

    e = Experiment.objects.create(program=program, name="Copy", kind="share_copy", status="running")
    e.variants.create(key="plain", name="Plain", config={})
    e.variants.create(key="warm", name="Warm", config={"share_text": "You will love this shop:"})
    arms = set()
    for i in range(12):
        a = enroll(program, f"c{i}@example.com")
        with translation.override("en"):
            portal, widget = dashboard(advocate=a), widget_context(advocate=a)
        warm = portal["share_text"] == "You will love this shop:"
        arms.add(warm)
        whatsapp = [
            link["href"]
            for link in portal["share_links"] + widget["share_links"]
            if link["channel"] in ("whatsapp", "sms")
        ]
        assert len(whatsapp) == 4
        assert all(("You%20will%20love%20this%20shop" in href) == warm for href in whatsapp)
        # Sticky: the arm drawn at the first view is the one every later page reads.
        assert (
            experiments.advocate_share_copy(advocate=a) == {"": "You will love this shop:"}
        ) == (warm)
    assert arms == {True, False}
    assert e.assignments.count() == 12
    assert experiments.variant_share_copy({"share_text": "  ", "share_texts": {"x": 3}}) == {}


def test_the_widget_shows_the_offer_of_the_advocates_arm(program):
    from storefront.selectors import widget_context

    experiment(program, status="running")
    amounts = set()
    for i in range(10):
        a = enroll(program, f"w{i}@example.com")
        with translation.override("en"):
            offer = widget_context(advocate=a)["offer"]
        amount = experiments.advocate_offer(advocate=a)["advocate_reward_minor"]
        amounts.add(amount)
        assert ("€15.00" if amount == 1500 else "€10.00") in offer["advocate"], offer
    assert amounts == {1000, 1500}
