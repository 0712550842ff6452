"""The default advocate score: 0-100 from plain signals, each part with its reason.

score = sum(weight_i x part_i) / sum(weight_i) x 100, where each part is in [0, 1]:

* recency: 1 for an order in the last 30 days, falling linearly to 0 at the
  program's ``churn_after_days``;
* frequency: orders / ``frequency_target`` (capped at 1);
* monetary: net revenue in the program's currency / ``monetary_target_minor``;
* nps: the latest answer / 10 (no answer: 0);
* reviews: half for having written reviews (3 or more: full), half for the rating;
* social: social engagement / 100;
* referrals: referred friends (as an advocate, not rejected) / 3.

Orders are the program's conversions, backfilled history included, net of
refunds; a fully refunded order does not count. The weights are per program
(``RecruitmentSettings``, in the admin). Scores are stored on the customer with
their reasons; ``customers_rescore`` runs per batch (upsert, beat).
"""

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q, Sum
from django.utils import timezone

from advocacy.models import Program
from core.money import to_decimal_string
from referrals.models import Conversion, Referral

from . import staging
from .models import Customer, NpsResponse, RecruitmentSettings

MODEL_NAME = "default-v1"
FRESH_DAYS = 30


@dataclass
class OrderStats:
    count: int = 0
    # Net revenue per currency, minor units.
    revenue: dict[str, int] = field(default_factory=dict)
    first_at: datetime | None = None
    last_at: datetime | None = None

    def add(self, currency: str, count: int, net: int, first: datetime, last: datetime) -> None:
        self.count += count
        self.revenue[currency] = self.revenue.get(currency, 0) + net
        self.first_at = min(filter(None, [self.first_at, first]), default=None)
        self.last_at = max(filter(None, [self.last_at, last]), default=None)


@dataclass
class Signals:
    orders: OrderStats
    nps: int | None
    reviews: int
    rating: int | None
    social: int
    referrals: int
    nps_category: str = ""


def settings_for(program: Program) -> RecruitmentSettings:
    """The program's recruitment settings (created with the defaults when missing)."""
    found = RecruitmentSettings.objects.filter(program=program).first()
    if found:
        return found
    obj, _ = RecruitmentSettings.objects.get_or_create(program=program)
    return obj


def order_stats(*, program: Program, customers: list[Customer]) -> dict[int, OrderStats]:
    """Each customer's orders (backfill included, net of refunds), in three queries at most.

    An order belongs to the customer with its ``customer_external_id``; an order
    without one belongs to the customer with its normalised email.
    """
    by_ext = {c.external_id: c.pk for c in customers}
    by_email = {c.email_normalized: c.pk for c in customers if c.email_normalized}
    out = {c.pk: OrderStats() for c in customers}
    rows = (
        Conversion.objects.filter(program=program)
        .exclude(status=Conversion.Status.REFUNDED)
        .filter(
            Q(customer_external_id__in=list(by_ext))
            | Q(customer_external_id="", customer_email_normalized__in=list(by_email))
        )
        .values("customer_external_id", "customer_email_normalized", "currency")
        .annotate(
            n=Count("pk"),
            net=Sum(F("amount_minor") - F("refunded_minor")),
            first=Min("occurred_at"),
            last=Max("occurred_at"),
        )
        .order_by()
    )
    for row in rows:
        ext = row["customer_external_id"]
        pk = by_ext.get(ext) if ext else by_email.get(row["customer_email_normalized"])
        if pk is not None:
            out[pk].add(row["currency"], row["n"], row["net"] or 0, row["first"], row["last"])
    return out


def latest_nps(*, customers: list[Customer]) -> dict[int, tuple[int, str]]:
    """Each customer's latest NPS answer: (score, category)."""
    latest: dict[int, tuple] = {}
    rows = (
        NpsResponse.objects.filter(customer__in=customers)
        .values_list("customer_id", "score", "category", "occurred_at", "pk")
        .order_by("customer_id", "occurred_at", "pk")
    )
    for customer_id, score, category, _, _ in rows:
        latest[customer_id] = (score, category)  # ordered: the last one wins
    return latest


def referral_counts(*, customers: list[Customer]) -> dict[int, int]:
    advocate_ids = [c.advocate_id for c in customers if c.advocate_id]
    if not advocate_ids:
        return {}
    counts = dict(
        Referral.objects.filter(advocate_id__in=advocate_ids)
        .exclude(status=Referral.Status.REJECTED)
        .values_list("advocate_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {c.pk: counts.get(c.advocate_id, 0) for c in customers if c.advocate_id}


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def _money(minor: int, currency: str) -> str:
    return f"{to_decimal_string(minor, currency)} {currency}"


def score_compute(
    *,
    signals: Signals,
    weights: RecruitmentSettings,
    currency: str,
    churn_after_days: int,
    now: datetime,
) -> tuple[int, list[str]]:
    """The score (0-100) and its reasons, biggest contribution first."""
    o = signals.orders
    parts: list[tuple[str, int, float, str]] = []  # (name, weight, value, explanation)
    if o.last_at:
        days = max(0, (now - o.last_at).days)
        span = max(1, churn_after_days - FRESH_DAYS)
        recency = 1.0 if days <= FRESH_DAYS else _clamp(1 - (days - FRESH_DAYS) / span)
        parts.append(("recency", weights.weight_recency, recency, f"last order {days} days ago"))
    else:
        parts.append(("recency", weights.weight_recency, 0.0, "no orders"))
    parts.append(
        (
            "frequency",
            weights.weight_frequency,
            _clamp(o.count / weights.frequency_target),
            f"{o.count} order{'s' if o.count != 1 else ''}",
        )
    )
    revenue = o.revenue.get(currency, 0)
    parts.append(
        (
            "monetary",
            weights.weight_monetary,
            _clamp(revenue / weights.monetary_target_minor),
            f"{_money(revenue, currency)} spent",
        )
    )
    if signals.nps is None:
        parts.append(("nps", weights.weight_nps, 0.0, "no NPS answer"))
    else:
        parts.append(("nps", weights.weight_nps, signals.nps / 10, f"NPS answer {signals.nps}"))
    review_part = 0.5 * _clamp(signals.reviews / 3)
    if signals.rating:
        review_part += 0.5 * (signals.rating - 1) / 4
    rating = f", rated {signals.rating}/5" if signals.rating else ""
    parts.append(
        ("reviews", weights.weight_reviews, review_part, f"{signals.reviews} reviews{rating}")
    )
    parts.append(
        (
            "social",
            weights.weight_social,
            _clamp(signals.social / 100),
            f"social engagement {signals.social}",
        )
    )
    parts.append(
        (
            "referrals",
            weights.weight_referrals,
            _clamp(signals.referrals / 3),
            f"{signals.referrals} friends referred",
        )
    )
    total_weight = sum(w for _, w, _, _ in parts)
    if total_weight == 0:
        return 0, ["all score weights are 0"]
    contributions = [(name, 100 * w * v / total_weight, text) for name, w, v, text in parts if w]
    score = round(sum(c for _, c, _ in contributions))
    contributions.sort(key=lambda c: -c[1])
    reasons = [f"{name} +{round(c)}: {text}" for name, c, text in contributions]
    return max(0, min(100, score)), reasons


def signals_for(*, program: Program, customers: list[Customer]) -> dict[int, Signals]:
    """Each customer's signals (orders, latest NPS, reviews, social, referrals): 4 queries."""
    stats = order_stats(program=program, customers=customers)
    nps = latest_nps(customers=customers)
    referrals = referral_counts(customers=customers)
    out = {}
    for c in customers:
        latest = nps.get(c.pk)
        out[c.pk] = Signals(
            orders=stats[c.pk],
            nps=latest[0] if latest else None,
            reviews=c.reviews,
            rating=c.review_rating,
            social=c.social_engagement,
            referrals=referrals.get(c.pk, 0),
            nps_category=latest[1] if latest else "",
        )
    return out


def customers_rescore(*, program: Program, customer_ids: list[int]) -> int:
    """Recompute the order history, latest NPS and score of these customers; one batch.

    The score is the default one, or the program's learned model when the managers
    chose it and it beats the default on its holdout (``recruitment.learned``).
    """
    from .learned import ranker_for  # the learned model builds on this module

    customers = list(Customer.objects.filter(program=program, pk__in=customer_ids))
    if not customers:
        return 0
    weights = settings_for(program)
    signals = signals_for(program=program, customers=customers)
    ranker = ranker_for(program=program, weights=weights)
    now = timezone.now()
    for c in customers:
        s = signals[c.pk]
        o = s.orders
        c.order_count = o.count
        c.revenue_minor = o.revenue.get(program.currency, 0)
        c.first_order_at, c.last_order_at = o.first_at, o.last_at
        c.nps_score, c.nps_category = s.nps, s.nps_category
        if ranker is not None:
            c.score, c.score_reasons = ranker.score(signals=s, now=now)
            c.score_model = ranker.name
        else:
            c.score, c.score_reasons = score_compute(
                signals=s,
                weights=weights,
                currency=program.currency,
                churn_after_days=program.churn_after_days,
                now=now,
            )
            c.score_model = MODEL_NAME
        c.scored_at = now
    _scores_write(customers)
    return len(customers)


SCORE_COLUMNS = [
    ("order_count", "integer"),
    ("revenue_minor", "bigint"),
    ("first_order_at", "timestamptz"),
    ("last_order_at", "timestamptz"),
    ("nps_score", "smallint"),
    ("nps_category", "varchar"),
    ("score", "smallint"),
    ("score_reasons", "jsonb"),
    ("score_model", "varchar"),
    ("scored_at", "timestamptz"),
]


def _scores_write(customers: list[Customer]) -> None:
    """Write the batch's scores in one statement (``bulk_update`` builds a CASE per
    field and row: 40x slower for 1,000 customers): on PostgreSQL an ``UPDATE ...
    FROM`` a staging table filled by COPY, on SQLite (3.33+) ``FROM (VALUES ...)``."""
    if connection.vendor == "postgresql":
        staging.scores_write(customers, SCORE_COLUMNS)
        return
    names = [name for name, _ in SCORE_COLUMNS]
    row = "(" + ", ".join(["%s"] * (len(SCORE_COLUMNS) + 1)) + ")"
    params: list = []
    adapt = {
        "jsonb": json.dumps,
        "timestamptz": connection.ops.adapt_datetimefield_value,
    }
    for c in customers:
        params.append(c.pk)
        for name, kind in SCORE_COLUMNS:
            value = getattr(c, name)
            params.append(adapt[kind](value) if kind in adapt and value is not None else value)
    sets = ", ".join(f"{n} = v.{n}" for n in names)
    table = Customer._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"WITH v (id, {', '.join(names)}) AS (VALUES {', '.join([row] * len(customers))}) "  # noqa: S608 - fixed names
            f"UPDATE {table} SET {sets} FROM v WHERE {table}.id = v.id",
            params,
        )


def customers_for_orders(
    *, program: Program, external_ids: set[str], emails: set[str]
) -> list[int]:
    """Ids of the customers these orders belong to (to rescore after a backfill)."""
    return list(
        Customer.objects.filter(program=program)
        .filter(Q(external_id__in=external_ids) | Q(email_normalized__in=emails))
        .values_list("pk", flat=True)
    )
