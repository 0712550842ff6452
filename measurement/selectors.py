"""The program's measurement: every number of ``GET /api/v1/metrics`` and the dashboard.

Definitions and formulas are in ``docs/metrics.md``; the code follows them
line by line. A period is the closed range of UTC days [``date_from``,
``date_to``], i.e. the instants [``date_from`` 00:00, ``date_to`` + 1 day 00:00).
Day-level counts (funnel, referred revenue, reward cost) come from the rollups
plus the live days (``measurement.daily``); customer-level numbers come from
the orders themselves.
"""

import dataclasses
import heapq
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import F

from advocacy.models import Advocate, Program
from core.errors import ServiceError, Unprocessable
from core.money import to_decimal_string
from recruitment.models import Customer, NpsResponse

from . import customers, daily, friends
from .customers import CUSTOMER_KEY, CustomerAgg, stamp
from .daily import counted_orders, day_start
from .models import CohortRollup

# --------------------------------------------------------------------- helpers


def rate(numerator, denominator) -> float | None:
    """A percentage rounded to one decimal (half up), or None without a denominator."""
    if not denominator:
        return None
    value = Decimal(numerator) * 100 / Decimal(denominator)
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def ratio(numerator, denominator, places: str = "0.01") -> float | None:
    if not denominator:
        return None
    value = Decimal(numerator) / Decimal(denominator)
    return float(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def money(amount_minor: int | None, currency: str) -> str | None:
    return None if amount_minor is None else to_decimal_string(int(amount_minor), currency)


def average_money(total_minor: int, count: int, currency: str) -> str | None:
    """Mean in minor units rounded half up to a whole minor unit, as a decimal string."""
    if not count:
        return None
    mean = (Decimal(total_minor) / count).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return to_decimal_string(int(mean), currency)


@dataclass(frozen=True)
class Period:
    date_from: date
    date_to: date

    @property
    def start(self) -> datetime:
        return day_start(self.date_from)

    @property
    def end(self) -> datetime:
        return day_start(self.date_to + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> "Period":
        """The period of the same length just before this one (the comparison period)."""
        return Period(
            self.date_from - timedelta(days=self.days), self.date_from - timedelta(days=1)
        )


MAX_PERIOD_DAYS = 3 * 366


def period_parse(date_from: str | None, date_to: str | None, *, today: date) -> Period:
    """A period from ``YYYY-MM-DD`` strings (default: the 30 days ending today).

    Raises ``ServiceError`` (400) for a malformed date, ``Unprocessable`` (422) for
    well-formed dates that make no period: ``from`` after ``to``, a period longer than
    three years, or one reaching before the calendar's start.
    """
    fields: dict[str, list[str]] = {}
    parsed = {}
    for name, raw in (("from", date_from), ("to", date_to)):
        if raw in (None, ""):
            continue
        try:
            parsed[name] = date.fromisoformat(raw)
            if len(raw) != 10:
                raise ValueError(raw)
        except ValueError:
            fields[name] = ["Use a date as YYYY-MM-DD."]
    if fields:
        raise ServiceError("invalid_period", "The period's dates are not valid.", fields=fields)
    end = parsed.get("to", today)
    try:
        start = parsed.get("from") or end - timedelta(days=29)
    except OverflowError:
        raise Unprocessable(
            "invalid_period", "The period starts before 0001-01-01.", fields={"to": ["Later."]}
        ) from None
    if start > end:
        raise Unprocessable(
            "invalid_period",
            "'from' is after 'to'.",
            fields={"from": ["Must be on or before 'to'."]},
        )
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise Unprocessable(
            "invalid_period",
            f"A period is at most {MAX_PERIOD_DAYS} days.",
            fields={"from": ["Choose a shorter period."]},
        )
    return Period(start, end)


# --------------------------------------------------------------------- customers


@dataclass
class CustomerFacts:
    """One customer's counted orders (program currency) up to the end of the period."""

    first_at: datetime
    first_attributed: bool
    first_advocate_id: int | None
    orders: int = 0
    net_minor: int = 0
    order_times: list[datetime] = field(default_factory=list)

    def active_at(self, instant: datetime, window: timedelta) -> bool:
        """An order in the ``window`` before ``instant``: [instant - window, instant)."""
        return any(instant - window <= t < instant for t in self.order_times)


def customer_facts(program: Program, until: datetime) -> dict[str, CustomerFacts]:
    """Each customer's counted orders before ``until`` (backfill included)."""
    rows = (
        counted_orders(program)
        .filter(occurred_at__lt=until, currency=program.currency)
        .annotate(key=CUSTOMER_KEY, net=F("amount_minor") - F("refunded_minor"))
        .exclude(key=None)
        .order_by("occurred_at", "pk")
        .values_list("key", "occurred_at", "net", "attributed", "advocate_id")
    )
    facts: dict[str, CustomerFacts] = {}
    for key, at, net, attributed, advocate_id in rows.iterator(chunk_size=5000):
        fact = facts.get(key)
        if fact is None:
            fact = facts[key] = CustomerFacts(at, attributed, advocate_id if attributed else None)
        fact.orders += 1
        fact.net_minor += net
        fact.order_times.append(at)
    return facts


def excluded_orders(program: Program, period: Period) -> int:
    """Counted orders in the period in another currency than the program's."""
    return (
        counted_orders(program)
        .filter(occurred_at__gte=period.start, occurred_at__lt=period.end)
        .exclude(currency=program.currency)
        .count()
    )


class AdvocateKeys(frozenset):
    """``advocate_keys``' answer, with the fingerprint it was read under (``None``:
    read afresh, not kept)."""

    fingerprint: tuple | None = None


FINGERPRINT_SQL = """
SELECT
  (SELECT (count(*), coalesce(sum(hashtextextended(
     concat_ws('|', a.external_id, a.email_normalized, a.status), 0)), 0))::text
   FROM advocacy_advocate a WHERE a.program_id = %s),
  (SELECT (count(*), coalesce(sum(hashtextextended(
     concat_ws('|', c.external_id, c.email_normalized, c.advocate_id, a.status), 0)), 0))::text
   FROM recruitment_customer c JOIN advocacy_advocate a ON a.id = c.advocate_id
   WHERE c.program_id = %s)
"""


def _advocate_fingerprint(program: Program) -> tuple | None:
    """A checksum of everything ``advocate_keys`` reads (each advocate's ids and status,
    each linked customer's ids and their advocate's status), summed in PostgreSQL: any
    change, however made (a save, an ``update()``, a link from a customer import), gives
    another value. One round trip and no rows, where the keys themselves are tens of
    thousands of rows to read and hash in Python. ``None`` on other databases."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(FINGERPRINT_SQL, [program.pk, program.pk])
        return tuple(cursor.fetchone())


def _read_advocate_keys(program: Program) -> frozenset[str]:
    keys: set[str] = set()
    advocates = Advocate.objects.filter(program=program).exclude(status=Advocate.Status.INVITED)
    for external_id, email in advocates.values_list("external_id", "email_normalized").order_by():
        if external_id:
            keys.add(external_id)
        if email:
            keys.add(email)
    linked = (
        Customer.objects.filter(
            program=program, advocate__isnull=False, advocate__status__in=_joined_statuses()
        )
        .values_list("external_id", "email_normalized")
        .order_by()
    )
    for external_id, email in linked:
        keys.update(k for k in (external_id, email) if k)
    return frozenset(keys)


@daily.memo
def advocate_keys(program: Program) -> AdvocateKeys:
    """Customer keys that are advocates: their external id, email, or a linked profile.
    Kept by the process under a fingerprint of what they are read from (checked on each
    request), since a large program's keys are not cheap to read."""
    fingerprint = _advocate_fingerprint(program)
    if fingerprint is None:
        return AdvocateKeys(_read_advocate_keys(program))

    def read() -> AdvocateKeys:
        keys = AdvocateKeys(_read_advocate_keys(program))
        keys.fingerprint = fingerprint
        return keys

    return daily.finished(program, ("advocate_keys", fingerprint), read)


def _joined_statuses() -> list[str]:
    return [s for s in Advocate.Status.values if s != Advocate.Status.INVITED]


@dataclass
class CustomerNumbers:
    """Counts and sums over customers (``CustomerAgg``) that every derived number needs:
    additive, so the finished days' part is kept and corrected for the changed customers."""

    customers: int = 0
    active_start: int = 0
    active_end: int = 0
    new: int = 0
    repeat: int = 0  # customers with >= 2 counted orders
    retained: int = 0  # ... and active at the end
    net_minor: int = 0
    referred: int = 0  # first order attributed
    referred_net_minor: int = 0
    # new customers whose first order was attributed: key -> (first order, advocate id)
    new_referred: dict = field(default_factory=dict)
    # their cycle time (days from the advocate's enrolment to the first order), if read
    cycles: dict | None = None

    def add(self, key: str, f: CustomerAgg, lo: str, hi: str, sign: int = 1) -> None:
        self.customers += sign
        self.active_start += sign * f.active_start
        self.active_end += sign * f.active_end
        self.net_minor += sign * f.net_minor
        if f.orders >= 2:
            self.repeat += sign
            self.retained += sign * f.active_end
        if f.first_attributed:
            self.referred += sign
            self.referred_net_minor += sign * f.net_minor
        if lo <= f.first < hi:
            self.new += sign
            if f.first_attributed:
                if sign > 0:
                    self.new_referred[key] = (f.first_at, f.first_advocate_id)
                else:
                    del self.new_referred[key]


def _numbers(aggs: dict[str, CustomerAgg], lo: str, hi: str) -> CustomerNumbers:
    out = CustomerNumbers()
    for key, f in aggs.items():
        out.add(key, f, lo, hi)
    return out


def _cycles(new_referred: dict) -> dict[str, float]:
    """key -> days from the referring advocate's enrolment to the customer's first order."""
    joined_at = dict(
        Advocate.objects.filter(
            daily.AnyOf(
                "pk", {advocate_id for _, advocate_id in new_referred.values() if advocate_id}
            )
        ).values_list("pk", "created_at")
    )
    return {
        key: (first_at - joined_at[advocate_id]).total_seconds() / 86400
        for key, (first_at, advocate_id) in new_referred.items()
        if advocate_id in joined_at
    }


def _with_cycles(numbers: CustomerNumbers) -> CustomerNumbers:
    numbers.cycles = _cycles(numbers.new_referred)
    return numbers


def customer_numbers(
    program: Program, aggs: dict[str, CustomerAgg], period: Period
) -> CustomerNumbers:
    """``CustomerNumbers`` over ``aggs`` for the period (its new customers). For the
    rollups' answer (``customers.CustomerAggs``), the finished days' part is summed once
    per process (until the next rebuild) and only the customers the live and marked days
    changed are taken out and put back. The cycle times of the finished part are kept
    with it (an advocate's save marks their day, and the day's rebuild renews them)."""
    lo, hi = stamp(period.start), stamp(period.end)
    base = getattr(aggs, "finished", None)
    if base is None:
        return _numbers(aggs, lo, hi)
    cached = daily.finished(
        program,
        ("customer_numbers", aggs.finished_key, lo, hi),
        lambda: _with_cycles(_numbers(base, lo, hi)),
    )
    out = dataclasses.replace(
        cached, new_referred=dict(cached.new_referred), cycles=dict(cached.cycles)
    )
    for key in aggs.changed:
        if key in base:
            out.add(key, base[key], lo, hi, -1)
        out.add(key, aggs[key], lo, hi)
        out.cycles.pop(key, None)
    out.cycles.update(
        _cycles({k: out.new_referred[k] for k in aggs.changed if k in out.new_referred})
    )
    return out


@dataclass(frozen=True)
class AdvocateCustomers:
    """What CLV and the journey need of the customers who are advocates."""

    customers: int
    net_minor: int
    retained: int  # two or more counted orders, and active at the end


def _advocate_sums(aggs: dict[str, CustomerAgg], keys_advocates: frozenset[str]) -> list[int]:
    """[customers, net, retained] of the customers among ``aggs`` who are advocates (no
    list of them: at tens of thousands of customers the list's tuples cost the garbage
    collector)."""
    customers_ = net = retained = 0
    for key in keys_advocates & aggs.keys():
        f = aggs[key]
        customers_ += 1
        net += f.net_minor
        retained += f.orders >= 2 and f.active_end
    return [customers_, net, retained]


def _advocate_customers(
    program: Program, aggs: dict[str, CustomerAgg], keys_advocates: AdvocateKeys
) -> AdvocateCustomers:
    """``AdvocateCustomers`` of ``aggs``. For the rollups' answer with kept keys, the
    finished days' customers are summed once per process and corrected for the
    customers the live and marked days changed."""
    base = getattr(aggs, "finished", None)
    if base is None or keys_advocates.fingerprint is None:
        return AdvocateCustomers(*_advocate_sums(aggs, keys_advocates))
    sums = list(
        daily.finished(
            program,
            ("advocate_customers", aggs.finished_key, keys_advocates.fingerprint),
            lambda: _advocate_sums(base, keys_advocates),
        )
    )
    for key in aggs.changed:
        if key not in keys_advocates:
            continue
        for f, sign in ((base.get(key), -1), (aggs[key], 1)):
            if f is not None:
                sums[0] += sign
                sums[1] += sign * f.net_minor
                sums[2] += sign * (f.orders >= 2 and f.active_end)
    return AdvocateCustomers(*sums)


def customers_block(numbers: CustomerNumbers) -> dict:
    start, end, new = numbers.active_start, numbers.active_end, numbers.new
    retention = rate(end - new, start)
    churn = None if retention is None else float(Decimal("100.0") - Decimal(str(retention)))
    return {
        "customers": {"start": start, "end": end, "new": new},
        "retention_rate": retention,
        "churn_rate": churn,
    }


def repeat_purchase_rate(numbers: CustomerNumbers) -> float | None:
    return rate(numbers.repeat, numbers.customers)


def clv_block(numbers: CustomerNumbers, advocates: AdvocateCustomers, currency: str) -> dict:
    """Mean net revenue per customer, by group; ``advocates``: the customers who are
    advocates."""
    adv_net = advocates.net_minor
    n, net = numbers.customers, numbers.net_minor
    return {
        "referred": average_money(numbers.referred_net_minor, numbers.referred, currency),
        "non_referred": average_money(
            net - numbers.referred_net_minor, n - numbers.referred, currency
        ),
        "advocates": average_money(adv_net, advocates.customers, currency),
        "non_advocates": average_money(net - adv_net, n - advocates.customers, currency),
    }


# --------------------------------------------------------------------- NPS


def nps_block(latest: dict[str, tuple[str, str]], keys: frozenset[str] | None = None) -> dict:
    """NPS over each customer's latest answer (``customers.nps_latest``), in a segment's
    ``keys`` (matched by the answer's key or its customer profile's email) if given."""
    counts = {c: 0 for c in NpsResponse.Category.values}
    responses = 0
    for key, (alt, category) in latest.items():
        if keys is not None and not (key in keys or alt in keys):
            continue
        counts[category] += 1
        responses += 1
    score = None
    if responses:
        diff = Decimal(counts["promoter"] - counts["detractor"]) * 100 / responses
        score = int(diff.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return {
        "score": score,
        "responses": responses,
        "promoters": counts["promoter"],
        "passives": counts["passive"],
        "detractors": counts["detractor"],
    }


def months_in(period: Period) -> list[tuple[date, date]]:
    """Calendar months overlapping the period, clipped to it: [(first day, last day)]."""
    out = []
    d = period.date_from
    while d <= period.date_to:
        next_month = (d.replace(day=1) + timedelta(days=32)).replace(day=1)
        out.append((d, min(period.date_to, next_month - timedelta(days=1))))
        d = next_month
    return out


def nps_trend(
    program: Program,
    period: Period,
    keys: frozenset[str] | None = None,
    *,
    rows: list | None = None,
    source: str = "rollup",
) -> list:
    """The NPS block of each calendar month of the period (clipped to it)."""
    end = period.date_to + timedelta(days=1)
    if rows is None:
        rows = customers.nps_rows(program, period.date_from, end, source=source)
    months = months_in(period)
    # Each row to its month first: one pass over a year's answers, not one per month.
    by_month: dict[tuple[int, int], list] = {(lo.year, lo.month): [] for lo, _ in months}
    for row in rows:
        bucket = by_month.get((row[0].year, row[0].month))
        if bucket is not None:
            bucket.append(row)
    return [
        {
            "month": lo.strftime("%Y-%m"),
            **nps_block(
                customers.nps_latest(by_month[(lo.year, lo.month)], lo, hi + timedelta(days=1)),
                keys,
            ),
        }
        for lo, hi in months
    ]


# --------------------------------------------------------------------- the other numbers


def referral_conversion(
    program: Program, period: Period, *, source: str = "rollup"
) -> tuple[int, int]:
    """(referrals created in the period, of which the friend bought, attributed, by ``to``)."""
    return friends.referral_conversion(program, period.date_from, period.date_to, source=source)


def reviews_ugc(program: Program, period: Period, *, source: str = "rollup") -> dict:
    """Approved nurture items created in the period (one ``ProgramDayRollup`` row a day)."""
    t = daily.day_totals(
        program, period.date_from, period.date_to + timedelta(days=1), source=source
    )
    return {
        "reviews": t["reviews"],
        "testimonials": t["testimonials"],
        "other_submissions": t["other_submissions"],
        "total": t["reviews"] + t["testimonials"] + t["other_submissions"],
    }


def advocates_before(program: Program, period: Period, *, source: str = "rollup") -> dict:
    """Advocates created before the end: not merely invited (``joined``) and ``active``
    (``activated``), summed over every day's ``ProgramDayRollup`` row."""
    if source == "raw":
        before = Advocate.objects.filter(program=program, created_at__lt=period.end)
        return {
            "joined": before.exclude(status=Advocate.Status.INVITED).count(),
            "activated": before.filter(status=Advocate.Status.ACTIVE).count(),
        }
    t = daily.day_totals(program, daily.EPOCH, period.date_to + timedelta(days=1))
    return {"joined": t["joined"], "activated": t["activated"]}


def k_factor(
    program: Program,
    period: Period,
    numbers: CustomerNumbers,
    clicks: int,
    *,
    source: str = "rollup",
) -> dict:
    """``numbers``: of every customer (not a segment's)."""
    advocates = advocates_before(program, period, source=source)["joined"]
    new_referred = numbers.new_referred
    cycles = list((_cycles(new_referred) if numbers.cycles is None else numbers.cycles).values())
    cycle = statistics.median(cycles) if cycles else None
    return {
        "k_factor": ratio(len(new_referred), advocates, "0.001"),
        "invites_per_advocate": ratio(clicks, advocates),
        "invite_conversion_rate": rate(len(new_referred), clicks),
        "cycle_time_days": None if cycle is None else round(cycle, 1),
        "advocates": advocates,
    }


def journey(
    program: Program,
    period: Period,
    aggs: dict[str, CustomerAgg],
    numbers: CustomerNumbers,
    advocates: AdvocateCustomers,
    clicks,
    segment_keys: frozenset[str] | None = None,
    *,
    source: str = "rollup",
) -> dict:
    """Stage counts at the end of the period (each customer in one stage); ``aggs`` (and
    their ``numbers``) are the customers in the segment (``segment_keys``) if there is
    one, ``advocates`` those of them who are advocates."""
    considering = friends.considering(
        program, period.date_from, period.date_to, aggs, segment_keys, source=source
    )
    retained = numbers.retained - advocates.retained
    purchased = numbers.customers - advocates.customers - retained
    return {
        "aware": clicks,
        "considering": considering,
        "purchased": purchased,
        "retained": retained,
        "advocate": advocates_before(program, period, source=source)["activated"],
    }


# --------------------------------------------------------------------- the whole answer


def program_metrics(
    *,
    program: Program,
    date_from: date,
    date_to: date,
    segment_keys: frozenset[str] | None = None,
    source: str = "rollup",
    extras: bool = True,
    detail: bool = True,
) -> dict:
    """The contract's ``GET /api/v1/metrics`` answer, plus the issue's other numbers.

    ``segment_keys`` limits the customer numbers (customers, retention,
    repeat purchases, CLV, NPS) to a segment. ``source="raw"`` counts the day
    numbers from the raw tables instead of the rollups (the benchmark's baseline).
    ``detail=False`` leaves out the journey and the NPS trend (a comparison period's
    cards and goals need neither).
    """
    period = Period(date_from, date_to)
    currency = program.currency
    t, sharing = daily.summary(
        program, period.date_from, period.date_to + timedelta(days=1), source=source
    )
    aggs = customers.customer_aggs(
        program, period.date_from, period.date_to + timedelta(days=1), source=source
    )
    keys_adv = advocate_keys(program)
    scoped = aggs if segment_keys is None else {k: v for k, v in aggs.items() if k in segment_keys}
    numbers = customer_numbers(program, aggs, period)
    scoped_numbers = numbers if scoped is aggs else customer_numbers(program, scoped, period)
    advocates = _advocate_customers(program, scoped, keys_adv)
    nps_rows = customers.nps_rows(
        program, period.date_from, period.date_to + timedelta(days=1), source=source
    )
    referrals, converted = referral_conversion(program, period, source=source)
    revenue, cost = t["revenue_minor"], t["reward_cost_minor"]
    answer = {
        "from": period.date_from.isoformat(),
        "to": period.date_to.isoformat(),
        "currency": currency,
        "funnel": {
            "invited": t["invited"],
            "joined": t["joined"],
            "sharing": sharing,
            "clicks": t["clicks"],
            "referrals": t["referrals"],
            "purchases": t["purchases"],
        },
        "referral_conversion_rate": rate(converted, referrals),
        "referred_revenue": money(revenue, currency),
        "reward_cost": money(cost, currency),
        "roi": ratio(revenue - cost, cost),
        "nps": nps_block(
            customers.nps_latest(nps_rows, period.date_from, period.date_to + timedelta(days=1)),
            segment_keys,
        ),
        **customers_block(scoped_numbers),
        "repeat_purchase_rate": repeat_purchase_rate(scoped_numbers),
        "clv": clv_block(scoped_numbers, advocates, currency),
        "excluded_orders": t["excluded_orders"],
    }
    if extras:
        new_referred = len(scoped_numbers.new_referred)
        answer.update(
            {
                "k_factor": k_factor(program, period, numbers, t["clicks"], source=source),
                "referral_share_of_new_customers": rate(new_referred, answer["customers"]["new"]),
                "new_referred_customers": new_referred,
                "cac_referred": average_money(cost, new_referred, currency),
                "reviews_ugc": reviews_ugc(program, period, source=source),
            }
        )
        if detail:
            answer["nps_trend"] = nps_trend(program, period, segment_keys, rows=nps_rows)
            answer["journey"] = journey(
                program,
                period,
                scoped,
                scoped_numbers,
                advocates,
                t["clicks"],
                segment_keys,
                source=source,
            )
    return answer


# --------------------------------------------------------------------- tables for the dashboard


def daily_series(program: Program, period: Period, *, source: str = "rollup") -> list[dict]:
    per_day = daily.grouped(
        program, period.date_from, period.date_to + timedelta(days=1), "day", source=source
    )
    out = []
    for i in range(period.days):
        d = period.date_from + timedelta(days=i)
        v = per_day.get(d, dict.fromkeys(daily.FIELDS, 0))
        out.append(
            {
                "day": d.isoformat(),
                "clicks": v["clicks"],
                "referrals": v["referrals"],
                "purchases": v["purchases"],
                "referred_revenue": money(v["revenue_minor"], program.currency),
                "reward_cost": money(v["reward_cost_minor"], program.currency),
            }
        )
    return out


def _top_rank(kv: tuple) -> tuple:
    values = kv[1]
    return (-values["revenue_minor"], -values["purchases"], -values["clicks"], kv[0])


def _top_shown(kv: tuple) -> bool:
    values = kv[1]
    return kv[0] is not None and bool(
        values["clicks"] or values["referrals"] or values["purchases"]
    )


def top_advocates(program: Program, period: Period, limit: int = 10) -> list[dict]:
    """The advocates with the most referred revenue (then purchases, clicks). The finished
    days' ranking is kept until the next rebuild; an advocate without live activity
    keeps its place in it, so only those with some are summed again (a few thousand,
    not every advocate of a large program)."""
    kept, key, live = daily.grouped_parts(
        program, period.date_from, period.date_to + timedelta(days=1), "advocate"
    )
    kept_ranking = daily.finished(
        program,
        ("top_advocates", key),
        lambda: sorted(filter(_top_shown, kept.items()), key=_top_rank),
    )
    candidates = []  # (rank, advocate id, kept values, live values)
    for kv in kept_ranking:
        if kv[0] not in live:
            candidates.append((_top_rank(kv), kv[0], kv[1], None))
            if len(candidates) == limit:
                break
    zero = dict.fromkeys(daily.FIELDS, 0)
    for advocate_id, now in live.items():
        if advocate_id is None:
            continue
        base = kept.get(advocate_id, zero)
        clicks, purchases = base["clicks"] + now["clicks"], base["purchases"] + now["purchases"]
        if not (clicks or purchases or base["referrals"] or now["referrals"]):
            continue
        revenue = base["revenue_minor"] + now["revenue_minor"]
        candidates.append(((-revenue, -purchases, -clicks, advocate_id), advocate_id, base, now))
    ranked = [
        (advocate_id, base if now is None else {f: base[f] + now[f] for f in daily.FIELDS})
        for _rank, advocate_id, base, now in heapq.nsmallest(limit, candidates)
    ]
    emails = dict(Advocate.objects.filter(pk__in=[k for k, _ in ranked]).values_list("pk", "email"))
    return [
        {
            "advocate_id": k,
            "email": emails.get(k, ""),
            "clicks": v["clicks"],
            "referrals": v["referrals"],
            "purchases": v["purchases"],
            "referred_revenue": money(v["revenue_minor"], program.currency),
            "reward_cost": money(v["reward_cost_minor"], program.currency),
        }
        for k, v in ranked
    ]


def channels(program: Program, period: Period) -> list[dict]:
    per = daily.grouped(program, period.date_from, period.date_to + timedelta(days=1), "channel")
    out = []
    for channel, v in sorted(per.items(), key=lambda kv: (-kv[1]["clicks"], kv[0])):
        if not (v["clicks"] or v["referrals"] or v["purchases"]):
            continue
        out.append(
            {
                "channel": channel or "(none)",
                "clicks": v["clicks"],
                "referrals": v["referrals"],
                "purchases": v["purchases"],
                "conversion_rate": rate(v["purchases"], v["clicks"]),
                "referred_revenue": money(v["revenue_minor"], program.currency),
            }
        )
    return out


def cohort_table(program: Program, months: int = 12, *, until: date | None = None) -> list[dict]:
    """Retention by cohort (month of first order), from the cohort rollup.

    For each of the last ``months`` cohorts: its size, and for month +0, +1, ...
    up to ``until``'s month, the % of the cohort with an order in that month.
    """

    def index(d: date) -> int:
        return d.year * 12 + d.month - 1

    rows = list(CohortRollup.objects.filter(program=program).order_by("cohort", "month"))
    if not rows:
        return []
    last = index(until) if until else max(index(r.month) for r in rows)
    cohorts: dict[date, dict] = {}
    for r in rows:
        c = cohorts.setdefault(r.cohort, {"customers": r.customers, "active": {}})
        c["active"][index(r.month) - index(r.cohort)] = r.active
    out = []
    for cohort, c in sorted(cohorts.items())[-months:]:
        width = last - index(cohort) + 1
        if width <= 0:
            continue
        out.append(
            {
                "cohort": cohort.strftime("%Y-%m"),
                "customers": c["customers"],
                "months": [rate(c["active"].get(k, 0), c["customers"]) for k in range(width)],
            }
        )
    return out


# --------------------------------------------------------------------- goals

# For each goal metric: where its value sits in the metrics answer.
GOAL_VALUES = {
    "new_referred_customers": lambda m: m["new_referred_customers"],
    "new_customers": lambda m: m["customers"]["new"],
    "referred_revenue": lambda m: Decimal(m["referred_revenue"]),
    "purchases": lambda m: m["funnel"]["purchases"],
    "referrals": lambda m: m["funnel"]["referrals"],
    "joined": lambda m: m["funnel"]["joined"],
    "nps": lambda m: m["nps"]["score"],
    "retention_rate": lambda m: m["retention_rate"],
    "repeat_purchase_rate": lambda m: m["repeat_purchase_rate"],
    "referral_conversion_rate": lambda m: m["referral_conversion_rate"],
    "roi": lambda m: m["roi"],
}


@dataclass
class GoalProgress:
    goal: object
    value: Decimal | None
    percent: float | None  # of the target, capped at 100
    met: bool
    status: str  # "met", "on track", "behind", "missed", "not started"
    days_left: int


def goal_progress(goal, *, today: date, segment_keys: frozenset[str] | None = None) -> GoalProgress:
    """A goal's value over [starts_on, min(deadline, today)] and how far it is to the target.

    Counts (customers, purchases, revenue...) are "on track" when the share of
    the target reached is at least the share of the time gone; levels (NPS,
    rates, ROI) when they are at the target already.
    """
    days_left = max((goal.deadline - today).days, 0)
    if today < goal.starts_on:
        return GoalProgress(goal, None, None, False, "not started", days_left)
    end = min(goal.deadline, today)
    answer = program_metrics(
        program=goal.program,
        date_from=goal.starts_on,
        date_to=end,
        segment_keys=segment_keys,
        detail=False,
    )
    raw = GOAL_VALUES[goal.metric](answer)
    value = None if raw is None else Decimal(str(raw))
    target = Decimal(goal.target)
    met = value is not None and value >= target
    percent = None
    if value is not None and target > 0:
        percent = float(min(value / target * 100, Decimal(100)).quantize(Decimal("0.1")))
    levels = {"nps", "retention_rate", "repeat_purchase_rate", "referral_conversion_rate", "roi"}
    if met:
        status = "met"
    elif today > goal.deadline:
        status = "missed"
    elif goal.metric in levels:
        status = "behind"
    else:
        total = (goal.deadline - goal.starts_on).days + 1
        gone = (end - goal.starts_on).days + 1
        status = "on track" if (percent or 0) >= gone * 100 / total else "behind"
    return GoalProgress(goal, value, percent, met, status, days_left)
