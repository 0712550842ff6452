"""Customer and NPS numbers from their day rollups, plus the live days.

``CustomerDayRollup`` holds each customer's counted orders per day and
``NpsDayRollup`` each customer's last answer per day, both rebuilt with the
day rollups (``services.rollup_day_rebuild``). A reader asks SQL for one row
per customer (aggregated over the finished, unmarked days before the period's
end) and adds what the live days (``daily.live_from``) and still-marked days hold,
counted from the raw rows the same way. ``source="raw"`` counts everything from
the orders and answers (the benchmark's baseline and the property test's
reference).
"""

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Case, F, IntegerField, Max, Min, Sum, Value, When
from django.db.models.functions import Coalesce, NullIf
from django.utils.functional import cached_property

from advocacy.models import Program
from recruitment.models import NpsResponse

from .daily import counted_orders, day_start, finished, live_from, marked_days, memo
from .models import CustomerDayRollup, NpsDayRollup

CUSTOMER_KEY = Coalesce(
    NullIf("customer_external_id", Value("")), NullIf("customer_email_normalized", Value(""))
)

# (day, customer key) -> (orders, net_minor, first)
CustomerDays = dict[tuple[date, str], tuple[int, int, str]]
# (day, key) -> (alt_key, category, last)
NpsDays = dict[tuple[date, str], tuple[str, str, str]]


def stamp(at: datetime) -> str:
    """``at`` in UTC as sortable text, "YYYY-MM-DDTHH:MM:SS.ffffff"."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds")


def order_sig(at: datetime, pk: int, attributed: bool, advocate_id: int | None) -> str:
    """An order as sortable text: the smallest of a customer's is their first order."""
    return f"{stamp(at)}|{pk:012d}|{int(attributed)}|{advocate_id or 0}"


@memo
def raw_customer_days(program: Program, start: date, end: date) -> CustomerDays:
    """Each customer's counted orders per day over [start, end), from the orders."""
    rows = (
        counted_orders(program)
        .filter(
            occurred_at__gte=day_start(start),
            occurred_at__lt=day_start(end),
            currency=program.currency,
        )
        .annotate(key=CUSTOMER_KEY, net=F("amount_minor") - F("refunded_minor"))
        .exclude(key=None)
        .values_list("key", "occurred_at", "pk", "net", "attributed", "advocate_id")
    )
    out: dict[tuple[date, str], list] = {}
    for key, at, pk, net, attributed, advocate_id in rows.iterator(chunk_size=5000):
        sig = order_sig(at, pk, attributed, advocate_id if attributed else None)
        cell = out.setdefault((at.astimezone(UTC).date(), key), [0, 0, sig])
        cell[0] += 1
        cell[1] += net
        cell[2] = min(cell[2], sig)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def _nps_key(ext: str, email: str, linked_ext: str | None, pk: int) -> str:
    return ext or email or (linked_ext or "") or f"response:{pk}"


@memo
def raw_nps_days(program: Program, start: date, end: date) -> NpsDays:
    """Each customer's last answer per day over [start, end), from the answers."""
    rows = (
        NpsResponse.objects.filter(
            program=program,
            occurred_at__gte=day_start(start),
            occurred_at__lt=day_start(end),
        )
        .order_by("occurred_at", "pk")
        .values_list(
            "pk",
            "occurred_at",
            "category",
            "customer_external_id",
            "customer_email_normalized",
            "customer__external_id",
            "customer__email_normalized",
        )
    )
    out: NpsDays = {}
    for pk, at, category, ext, email, linked_ext, linked_email in rows:
        key = _nps_key(ext, email, linked_ext, pk)
        out[(at.astimezone(UTC).date(), key)] = (
            linked_email or "",
            category,
            f"{stamp(at)}|{pk:012d}",
        )  # later answers overwrite earlier ones
    return out


# ----------------------------------------------------------------- per customer


@dataclass
class CustomerAgg:
    """One customer's counted orders before the end of a period."""

    first: str  # order_sig of the first order
    orders: int
    net_minor: int
    active_start: bool  # an order in [start - window, start)
    active_end: bool  # an order in [end - window, end)
    last_day: date  # the day of the last order

    # Parsed once per object (finished days' objects are shared by the requests of a
    # process, so each is parsed once until the next rebuild).
    @cached_property
    def first_at(self) -> datetime:
        return datetime.fromisoformat(self.first.split("|", 1)[0]).replace(tzinfo=UTC)

    @cached_property
    def first_attributed(self) -> bool:
        return self.first.split("|")[2] == "1"

    @cached_property
    def first_advocate_id(self) -> int | None:
        return int(self.first.split("|")[3]) or None


def _split(program: Program, end_day: date) -> tuple[date, list[date]]:
    """(first live day, marked days before it) for reads of the days before ``end_day``."""
    live = live_from(program)
    return live, sorted(d for d in marked_days(program) if d < min(end_day, live))


def _flag(lo: date, hi: date):
    return Max(
        Case(When(day__gte=lo, day__lt=hi, then=Value(1)), default=Value(0)),
        output_field=IntegerField(),
    )


class CustomerAggs(dict):
    """``customer_aggs``' answer: key -> ``CustomerAgg``. Read from the rollups, it also
    says which part came from the finished days (``finished``: the process's cached
    dict, ``finished_key``: its cache key) and which keys the live and marked days
    changed or added (``changed``), so numbers derived from every customer can be kept
    for the finished part and corrected for the few changed ones."""

    finished: dict[str, CustomerAgg] | None = None
    finished_key: tuple | None = None
    changed: frozenset[str] = frozenset()


@memo
def customer_aggs(
    program: Program, start: date, end: date, *, source: str = "rollup"
) -> CustomerAggs:
    """Per customer, their counted orders on the days before ``end`` (the day after the
    period), with whether they were active at ``start`` 00:00 and at ``end`` 00:00."""
    window = timedelta(days=program.churn_after_days)
    s_lo, e_lo = start - window, end - window
    out = CustomerAggs()
    shared: dict[str, CustomerAgg] = {}
    changed: set[str] = set()

    def add(key: str, orders: int, net: int, first: str, day: date) -> None:
        changed.add(key)
        agg = out.get(key)
        in_s, in_e = s_lo <= day < start, e_lo <= day < end
        if agg is None:
            out[key] = CustomerAgg(first, orders, net, in_s, in_e, day)
        else:
            if agg is shared.get(key):  # a finished days' object: change a copy
                agg = out[key] = dataclasses.replace(agg)
            agg.first = min(agg.first, first)
            agg.last_day = max(agg.last_day, day)
            agg.orders += orders
            agg.net_minor += net
            agg.active_start |= in_s
            agg.active_end |= in_e

    if source == "raw":
        for (day, key), (orders, net, first) in raw_customer_days(
            program, date(1970, 1, 1), end
        ).items():
            add(key, orders, net, first, day)
        return out
    live, marked = _split(program, end)
    final = (
        CustomerDayRollup.objects.filter(program=program, day__lt=min(end, live))
        .exclude(day__in=marked)
        .values("key")
        .annotate(
            n=Sum("orders"),
            net=Sum("net_minor"),
            f=Min("first"),
            s=_flag(s_lo, start),
            e=_flag(e_lo, end),
            last=Max("day"),
        )
        .order_by()
    )

    def read() -> dict[str, CustomerAgg]:
        return {
            row["key"]: CustomerAgg(
                row["f"], row["n"], row["net"], bool(row["s"]), bool(row["e"]), row["last"]
            )
            for row in final.iterator(chunk_size=10000)
        }

    key = ("customers", min(end, live), tuple(marked), s_lo, start, e_lo, end)
    shared = finished(program, key, read)
    out.update(shared)
    raw_days = marked + [live + timedelta(days=i) for i in range(max((end - live).days, 0))]
    for lo, hi in _runs(raw_days):
        for (day, key_), (orders, net, first) in raw_customer_days(program, lo, hi).items():
            add(key_, orders, net, first, day)
    out.finished, out.finished_key, out.changed = shared, key, frozenset(changed)
    return out


def _runs(days: list[date]) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    for d in sorted(days):
        if runs and runs[-1][1] == d:
            runs[-1] = (runs[-1][0], d + timedelta(days=1))
        else:
            runs.append((d, d + timedelta(days=1)))
    return runs


# ----------------------------------------------------------------- NPS


@memo
def nps_rows(
    program: Program, start: date, end: date, *, source: str = "rollup"
) -> list[tuple[date, str, str, str, str]]:
    """Each customer's last answer per day over [start, end):
    [(day, key, alt_key, category, last)], from the rollups plus the live days."""
    if source == "raw":
        days = raw_nps_days(program, start, end)
        return [(d, k, *v) for (d, k), v in days.items()]
    live, marked = _split(program, end)
    rows = list(
        finished(
            program,
            ("nps", start, min(end, live), tuple(marked)),
            lambda: list(
                NpsDayRollup.objects.filter(program=program, day__gte=start, day__lt=min(end, live))
                .exclude(day__in=marked)
                .values_list("day", "key", "alt_key", "category", "last")
            ),
        )
    )
    first_live = max(live, start)
    raw_days = [d for d in marked if d >= start] + [
        first_live + timedelta(days=i) for i in range(max((end - first_live).days, 0))
    ]
    for lo, hi in _runs(raw_days):
        rows.extend((d, k, *v) for (d, k), v in raw_nps_days(program, lo, hi).items())
    return rows


def nps_latest(rows, start: date, end: date) -> dict[str, tuple[str, str]]:
    """From ``nps_rows``: each customer's latest answer over the days [start, end),
    key -> (alt_key, category)."""
    best: dict[str, tuple[str, str, str]] = {}
    for day, key, alt, category, last in rows:
        if start <= day < end and (key not in best or last > best[key][2]):
            best[key] = (alt, category, last)
    return {k: (v[0], v[1]) for k, v in best.items()}
