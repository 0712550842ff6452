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

import bisect
import itertools
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


def _usual(f) -> float:
    """A repeat customer's mean gap between orders, in days."""
    return (f.last_day - f.first_at.date()).days / (f.orders - 1)


def _order(c: AtRiskCustomer) -> tuple:
    """The list's order: most overdue first, then by key."""
    return (-c.overdue, c.key)


@dataclass
class _RiskParts:
    """What the at-risk list needs from a set of customers, on a given day."""

    repeat: list[float]  # the usual interval of every repeat customer, sorted
    risky: dict[str, AtRiskCustomer]  # repeat customers at risk
    singles: list[tuple[int, str, object]]  # (days since, key, agg), one order, not churned,
    # most days since first
    ranked: list[AtRiskCustomer]  # ``risky`` in the list's order
    single_days: list[int]  # ``singles``' days since, negated (ascending, for bisect)


def _risk_parts(aggs: dict, today: date, churn_after_days: int, factor: float) -> _RiskParts:
    repeat: list[float] = []
    risky: dict[str, AtRiskCustomer] = {}
    singles: list[tuple[int, str, object]] = []
    for key, f in aggs.items():
        since = (today - f.last_day).days
        if f.orders >= 2:
            interval = _usual(f)
            repeat.append(interval)
            if since <= churn_after_days and interval and since > factor * interval:
                risky[key] = AtRiskCustomer(key, f.orders, f.last_day, since, round(interval, 1),
                                            round(since / interval, 2))  # fmt: skip
        elif since <= churn_after_days:
            singles.append((since, key, f))
    repeat.sort()
    singles.sort(key=lambda s: -s[0])
    ranked = sorted(risky.values(), key=_order)
    return _RiskParts(repeat, risky, singles, ranked, [-s[0] for s in singles])


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
    of a period ending today passes its start, so the same read is reused. What the
    finished days' customers give is kept (per day) until the next rebuild; the
    customers the live days changed are taken out of it and counted again.
    """
    return at_risk_list(program=program, now=now, factor=factor, limit=limit, since=since)[1]


def at_risk_list(
    *,
    program: Program,
    now: datetime,
    factor: float = 2.0,
    limit: int | None = None,
    since: date | None = None,
) -> tuple[int, list[AtRiskCustomer]]:
    """(how many customers are at risk, the first ``limit`` of them in the list's order,
    or all). With a limit, only those are built: at full scale the list has tens of
    thousands of customers and a page shows ten."""
    today = now.astimezone(UTC).date()
    churn = program.churn_after_days
    aggs = customers.customer_aggs(program, since or today, today + timedelta(days=1))
    base = getattr(aggs, "finished", None)
    if base is None:
        parts, changed, base = _risk_parts(aggs, today, churn, factor), frozenset(), {}
    else:
        parts = daily.finished(
            program,
            ("at_risk", aggs.finished_key, today, churn, factor),
            lambda: _risk_parts(base, today, churn, factor),
        )
        changed = aggs.changed
    repeat = parts.repeat
    if changed:
        repeat = list(repeat)
        for key in changed:
            if key in base and base[key].orders >= 2:
                del repeat[bisect.bisect_left(repeat, _usual(base[key]))]
            if aggs[key].orders >= 2:
                bisect.insort(repeat, _usual(aggs[key]))
    program_gap = statistics.median(repeat) if repeat else None

    # The finished days' customers at risk, less those the live days changed: repeat
    # customers (``ranked``, in the list's order) and single-order ones past the
    # program's usual interval (``singles``, most days since first, so most overdue).
    risky_count = len(parts.risky) - sum(1 for key in changed if key in parts.risky)
    risky = []
    for c in parts.ranked:
        if limit and len(risky) >= limit:
            break
        if c.key not in changed:
            risky.append(c)
    singles: list[AtRiskCustomer] = []
    singles_count = 0
    if program_gap:
        threshold = factor * program_gap
        past = bisect.bisect_left(parts.single_days, -threshold)  # days since > threshold
        singles_count = past - sum(
            1
            for key in changed
            if key in base
            and base[key].orders < 2
            and threshold < (today - base[key].last_day).days <= churn
        )
        for days, key, f in itertools.islice(parts.singles, past):
            overdue = round(days / program_gap, 2)
            if limit and len(singles) >= limit and overdue != singles[-1].overdue:
                break  # the rest are less overdue (ties by key are all kept)
            if key not in changed:
                singles.append(AtRiskCustomer(key, f.orders, f.last_day, days,
                                              round(program_gap, 1), overdue))  # fmt: skip
    # The customers the live days changed, counted again.
    fresh = []
    for key in changed:
        f = aggs[key]
        days = (today - f.last_day).days
        if days > churn:
            continue  # churned already, not at risk
        interval = _usual(f) if f.orders >= 2 else program_gap
        if not interval:
            continue
        if days > factor * interval:
            fresh.append(AtRiskCustomer(key, f.orders, f.last_day, days, round(interval, 1),
                                        round(days / interval, 2)))  # fmt: skip
    count = risky_count + singles_count + len(fresh)
    out = [*risky, *singles, *fresh]
    out.sort(key=_order)
    return count, (out[:limit] if limit else out)


@dataclass
class FadingAdvocate:
    advocate_id: int
    email: str
    recent: int  # clicks + referrals in the last 30 days
    usual: float  # 30-day average over the 90 days before


def _activity(values: dict | None) -> int:
    return values["clicks"] + values["referrals"] if values else 0


def _fading(recent: int, before: int) -> bool:
    return bool(before) and recent < before / 3 / 2


def fading_advocates(*, program: Program, today: date) -> list[FadingAdvocate]:
    """Read from the rollups per advocate (plus the live and marked days). Which advocates
    the finished days make fading is kept until the next rebuild; only those with
    activity on the live or marked days are counted again (more activity recently can
    only take an advocate off the list, more before can put one on it)."""
    recent_start = today - timedelta(days=30)
    before_start = recent_start - timedelta(days=90)
    kept_before, key_before, raw_before = daily.grouped_parts(
        program, before_start, recent_start, "advocate"
    )
    kept_recent, key_recent, raw_recent = daily.grouped_parts(
        program, recent_start, today + timedelta(days=1), "advocate"
    )

    def candidates() -> dict[int, tuple[int, int]]:
        out = {}
        for advocate_id, values in kept_before.items():
            before, recent = _activity(values), _activity(kept_recent.get(advocate_id))
            if advocate_id is not None and _fading(recent, before):
                out[advocate_id] = (recent, before)
        return out

    changed = (raw_before.keys() | raw_recent.keys()) - {None}
    base = daily.finished(program, ("fading", key_before, key_recent), candidates)
    fading = {a: v for a, v in base.items() if a not in changed}
    for advocate_id in changed:
        before = _activity(kept_before.get(advocate_id)) + _activity(raw_before.get(advocate_id))
        recent = _activity(kept_recent.get(advocate_id)) + _activity(raw_recent.get(advocate_id))
        if _fading(recent, before):
            fading[advocate_id] = (recent, before)
    # Then which of them are active (their ids as one array).
    active = dict(
        Advocate.objects.filter(
            daily.AnyOf("pk", fading), program=program, status=Advocate.Status.ACTIVE
        ).values_list("pk", "email")
    )
    out = []
    for advocate_id, (now, before) in fading.items():
        if advocate_id in active:
            out.append(FadingAdvocate(advocate_id, active[advocate_id], now, round(before / 3, 1)))
    out.sort(key=lambda a: (a.recent - a.usual, a.advocate_id))
    return out
