"""At-risk customers and fading advocates: lists for recruitment segments and re-engagement.

Formulas (also in docs/metrics.md):

* **At-risk customer**: a customer (not yet churned: last counted order within
  ``churn_after_days``) whose time since their last order is more than
  ``factor`` (default 2) times their usual interval. The usual interval is
  the median gap between their consecutive orders; with a single order, the
  program's median gap between first and second orders (no estimate without
  any repeat customer in the program). ``overdue`` = days since / usual interval.
* **Fading advocate**: an active advocate with activity (clicks + referrals)
  in the 90 days before the last 30, whose activity in the last 30 days is
  below half of their 30-day average over those 90 days.
"""

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

from advocacy.models import Advocate, Program

from . import daily
from .selectors import customer_facts


@dataclass
class AtRiskCustomer:
    key: str
    orders: int
    last_order_at: datetime
    days_since: float
    usual_interval_days: float
    overdue: float


def _gaps(times: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() / 86400 for a, b in pairwise(times)]


def at_risk_customers(
    *, program: Program, now: datetime, factor: float = 2.0, limit: int | None = None
) -> list[AtRiskCustomer]:
    facts = customer_facts(program, now)
    window = timedelta(days=program.churn_after_days)
    second_gaps = [_gaps(f.order_times[:2])[0] for f in facts.values() if f.orders >= 2]
    program_gap = statistics.median(second_gaps) if second_gaps else None
    out = []
    for key, f in facts.items():
        last = f.order_times[-1]
        if now - last > window:
            continue  # churned already, not at risk
        usual = statistics.median(_gaps(f.order_times)) if f.orders >= 2 else program_gap
        if not usual:
            continue
        since = (now - last).total_seconds() / 86400
        if since > factor * usual:
            out.append(AtRiskCustomer(key, f.orders, last, round(since, 1), round(usual, 1),
                                      round(since / usual, 2)))  # fmt: skip
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
    rows = daily.day_rows(program, before_start, today + timedelta(days=1))
    recent: dict[int, int] = {}
    before: dict[int, int] = {}
    for (day, advocate_id, _channel, _link), v in rows.items():
        if advocate_id is None:
            continue
        activity = v["clicks"] + v["referrals"]
        if not activity:
            continue
        bucket = recent if day >= recent_start else before
        bucket[advocate_id] = bucket.get(advocate_id, 0) + activity
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
