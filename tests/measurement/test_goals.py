"""Goals: a metric over a period (and segment), its target, and how far along it is."""

from datetime import date

from measurement import selectors
from measurement.models import Goal
from measurement.segments import segment_keys


def goal(program, **fields):
    defaults = {"name": "g", "starts_on": date(2026, 3, 1), "deadline": date(2026, 3, 31)}
    return Goal.objects.create(program=program, **{**defaults, **fields})


def test_progress_is_the_metric_over_the_goal_period(dataset):
    g = goal(dataset, metric="new_referred_customers", target=4, deadline=date(2026, 4, 30))
    # On 31 March: f1 and f3 are new referred customers -> 2 of 4 = 50 %; half the
    # time gone is 31 of 61 days = 50.8 % -> behind.
    p = selectors.goal_progress(g, today=date(2026, 3, 31))
    assert (p.value, p.percent, p.status, p.days_left) == (2, 50.0, "behind", 30)
    # On 10 March only f1 (4 Mar; f3 came on the 12th): 1 / 4 = 25 %, 10 of 61 days
    # = 16.4 % of the time -> on track
    p = selectors.goal_progress(g, today=date(2026, 3, 10))
    assert (p.value, p.percent, p.status) == (1, 25.0, "on track")


def test_a_level_goal_is_met_or_not(dataset):
    nps = goal(dataset, metric="nps", target=20)  # March NPS is 25
    assert selectors.goal_progress(nps, today=date(2026, 4, 5)).status == "met"
    revenue = goal(dataset, metric="referred_revenue", target=500)  # 170.00 by 31 March
    p = selectors.goal_progress(revenue, today=date(2026, 4, 5))
    assert (str(p.value), p.percent, p.status) == ("170.00", 34.0, "missed")


def test_a_goal_not_started_has_no_value(dataset):
    g = goal(dataset, metric="referrals", target=10, starts_on=date(2026, 5, 1),
             deadline=date(2026, 5, 31))  # fmt: skip
    assert selectors.goal_progress(g, today=date(2026, 4, 1)).status == "not started"


def test_a_segment_goal_counts_only_its_customers(dataset):
    segment = dataset.segments.create(name="c3", slug="c3", filters={"external_ids": ["c3"]})
    g = goal(dataset, metric="nps", target=50, segment=segment)
    p = selectors.goal_progress(g, today=date(2026, 4, 1), segment_keys=segment_keys(segment))
    assert (p.value, p.status) == (100, "met")  # c3's only answer is a 10
