"""At-risk customers and fading advocates: lists for recruitment segments and re-engagement.

Formulas (also in docs/metrics.md):

* **At-risk customer**: a customer (not yet churned: last counted order within
  ``churn_after_days``) whose time since their last order is more than
  ``factor`` (default 2) times their usual interval, in whole UTC days. The
  usual interval is their mean gap between orders, (last order's day - first
  order's day) / (orders - 1); with a single order, the median usual interval of
  the program's repeat customers (no estimate without any). ``overdue`` = days
  since / usual interval.
* **Fading advocate**: an active advocate with activity (clicks + referrals)
  in the 90 days before the last 30, whose activity in the last 30 days is
  below half of their 30-day average over those 90 days.
"""

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from advocacy.models import Advocate, Program

from . import customers, daily


@dataclass
class AtRiskCustomer:
    key: str
    orders: int
    last_order_on: date
    days_since: int
    usual_interval_days: float
    overdue: float


def at_risk_customers(
    *,
    program: Program,
    now: datetime,
    factor: float = 2.0,
    limit: int | None = None,
    since: date | None = None,
) -> list[AtRiskCustomer]:
    """Read from the customer day rollups (plus the live days), in whole days.

    ``since`` changes nothing in the answer: a page that already read the customers
    of a period ending today passes its start, so the same read is reused.
    """
    today = now.astimezone(UTC).date()
    aggs = customers.customer_aggs(program, since or today, today + timedelta(days=1))

    def usual(f) -> float:
        return (f.last_day - f.first_at.date()).days / (f.orders - 1)

    repeat = [usual(f) for f in aggs.values() if f.orders >= 2]
    program_gap = statistics.median(repeat) if repeat else None
    out = []
    for key, f in aggs.items():
        since = (today - f.last_day).days
        if since > program.churn_after_days:
            continue  # churned already, not at risk
        interval = usual(f) if f.orders >= 2 else program_gap
        if not interval:
            continue
        if since > factor * interval:
            out.append(AtRiskCustomer(key, f.orders, f.last_day, since, round(interval, 1),
                                      round(since / interval, 2)))  # fmt: skip
    out.sort(key=lambda c: (-c.overdue, c.key))
    return out[:limit] if limit else out


@dataclass
class FadingAdvocate:
    advocate_id: int
    email: str
    recent: int  # clicks + referrals in the last 30 days
    usual: float  # 30-day average over the 90 days before


def fading_advocates(*, program: Program, today: date) -> list[FadingAdvocate]:
    recent_start = today - timedelta(days=30)
    before_start = recent_start - timedelta(days=90)

    def activity(start: date, end: date) -> dict[int, int]:
        # Summed per advocate in SQL from the rollups (plus the live days).
        per = daily.grouped(program, start, end, "advocate")
        return {
            a: v["clicks"] + v["referrals"]
            for a, v in per.items()
            if a is not None and v["clicks"] + v["referrals"]
        }

    recent = activity(recent_start, today + timedelta(days=1))
    before = activity(before_start, recent_start)
    active = dict(
        Advocate.objects.filter(
            program=program, status=Advocate.Status.ACTIVE, pk__in=list(before)
        ).values_list("pk", "email")
    )
    out = []
    for advocate_id, total in before.items():
        usual = total / 3
        now = recent.get(advocate_id, 0)
        if advocate_id in active and now < usual / 2:
            out.append(FadingAdvocate(advocate_id, active[advocate_id], now, round(usual, 1)))
    out.sort(key=lambda a: (a.recent - a.usual, a.advocate_id))
    return out
