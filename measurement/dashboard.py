"""What the manager's dashboard shows: one program, one period and the one before it."""

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from advocacy.admin_scope import managed_programs
from advocacy.models import Program
from recruitment.models import Segment

from . import placements, risk, selectors
from .models import Goal
from .segments import segment_keys

# (label, path in the metrics answer, kind: count | rate | money | ratio | score, higher is better)
CARDS = [
    (_("Invited"), ("funnel", "invited"), "count", True),
    (_("Joined"), ("funnel", "joined"), "count", True),
    (_("Sharing advocates"), ("funnel", "sharing"), "count", True),
    (_("Clicks"), ("funnel", "clicks"), "count", True),
    (_("Referrals"), ("funnel", "referrals"), "count", True),
    (_("Referred purchases"), ("funnel", "purchases"), "count", True),
    (_("Referral conversion"), ("referral_conversion_rate",), "rate", True),
    (_("Referred revenue"), ("referred_revenue",), "money", True),
    (_("Reward cost"), ("reward_cost",), "money", False),
    (_("ROI"), ("roi",), "ratio", True),
    (_("NPS"), ("nps", "score"), "score", True),
    (_("Customers at start"), ("customers", "start"), "count", True),
    (_("Customers at end"), ("customers", "end"), "count", True),
    (_("New customers"), ("customers", "new"), "count", True),
    (_("Retention"), ("retention_rate",), "rate", True),
    (_("Churn"), ("churn_rate",), "rate", False),
    (_("Repeat purchases"), ("repeat_purchase_rate",), "rate", True),
    (_("CLV, referred"), ("clv", "referred"), "money", True),
    (_("CLV, not referred"), ("clv", "non_referred"), "money", True),
    (_("CLV, advocates"), ("clv", "advocates"), "money", True),
    (_("CLV, not advocates"), ("clv", "non_advocates"), "money", True),
    (_("Referral share of new"), ("referral_share_of_new_customers",), "rate", True),
    (_("CAC, referred"), ("cac_referred",), "money", False),
    (_("K-factor"), ("k_factor", "k_factor"), "ratio", True),
    (_("Reviews and UGC"), ("reviews_ugc", "total"), "count", True),
    (_("Other currencies (orders left out)"), ("excluded_orders",), "count", False),
]


def _dig(answer: dict, path: tuple):
    for part in path:
        answer = answer.get(part) if isinstance(answer, dict) else None
    return answer


@dataclass
class Card:
    key: str  # the path in the metrics answer, e.g. "funnel.clicks"
    label: str
    value: object
    previous: object
    kind: str
    delta: str
    trend: str  # "up-good", "down-bad", ... for the colour


def _delta(value, previous, kind: str, higher_is_better: bool) -> tuple[str, str]:
    if value is None or previous is None:
        return "", ""
    diff = Decimal(str(value)) - Decimal(str(previous))
    if diff == 0:
        return "±0", "flat"
    good = (diff > 0) == higher_is_better
    sign = "+" if diff > 0 else "-"
    amount = abs(diff)
    if kind == "rate":
        text = f"{sign}{amount:.1f} pt"
    elif kind == "money":
        text = f"{sign}{amount:.2f}"
    elif kind == "ratio":
        text = f"{sign}{amount.normalize():f}"
    else:
        text = f"{sign}{int(amount)}"
    return text, "good" if good else "bad"


def cards(current: dict, previous: dict) -> list[Card]:
    out = []
    for label, path, kind, higher in CARDS:
        value, before = _dig(current, path), _dig(previous, path)
        delta, trend = _delta(value, before, kind, higher)
        out.append(Card(".".join(path), str(label), value, before, kind, delta, trend))
    return out


def today() -> date:
    return timezone.now().astimezone(UTC).date()


def choose(user, params) -> tuple[list[Program], Program | None, selectors.Period, Segment | None]:
    """The manager's programs, the one shown, the period and the segment (from the query)."""
    programs = list(managed_programs(user).order_by("name"))
    slug = params.get("program")
    program = next((p for p in programs if p.slug == slug), programs[0] if programs else None)
    period = selectors.period_parse(params.get("from"), params.get("to"), today=today())
    segment = None
    if program is not None and params.get("segment"):
        segment = Segment.objects.filter(program=program, slug=params["segment"]).first()
    return programs, program, period, segment


def tables(
    program: Program,
    period: selectors.Period,
    segment: Segment | None,
    *,
    list_rows: int | None = None,
) -> dict:
    """Every table of the dashboard (each also downloadable as CSV); ``list_rows``: how
    many at-risk customers to list (the page shows the first ten and the count, the CSV
    all of them)."""
    keys = segment_keys(segment) if segment else None
    metrics = selectors.program_metrics(
        program=program, date_from=period.date_from, date_to=period.date_to, segment_keys=keys
    )
    previous_period = period.previous()
    previous = selectors.program_metrics(
        program=program,
        date_from=previous_period.date_from,
        date_to=previous_period.date_to,
        segment_keys=keys,
        detail=False,
    )
    year = selectors.Period(
        (period.date_to.replace(day=1) - timedelta(days=335)).replace(day=1), period.date_to
    )
    goals = [
        selectors.goal_progress(
            g, today=today(), segment_keys=segment_keys(g.segment) if g.segment else None
        )
        for g in Goal.objects.filter(program=program).select_related("segment", "program")
    ]
    at_risk_count, at_risk = risk.at_risk_list(
        program=program,
        now=timezone.now(),
        limit=list_rows,
        since=period.date_from if period.date_to == today() else None,
    )
    fading = risk.fading_advocates(program=program, today=today())
    return {
        "metrics": metrics,
        "previous": previous,
        "previous_period": previous_period,
        "cards": cards(metrics, previous),
        "funnel": [{"stage": k, "count": v} for k, v in metrics["funnel"].items()],
        "daily": selectors.daily_series(program, period),
        "advocates": selectors.top_advocates(program, period),
        "channels": selectors.channels(program, period),
        "cohorts": selectors.cohort_table(program, until=period.date_to),
        "nps_trend": selectors.nps_trend(program, year, keys),
        "journey": [{"stage": k, "count": v} for k, v in metrics["journey"].items()],
        "goals": goals,
        "placements": [
            _as_percent(row) for row in placements.funnel(program, period.date_from, period.date_to)
        ],
        "at_risk_count": at_risk_count,
        "at_risk": [
            {
                "customer": c.key,
                "orders": c.orders,
                "last_order_on": c.last_order_on.isoformat(),
                "days_since": c.days_since,
                "usual_interval_days": c.usual_interval_days,
                "overdue": c.overdue,
            }
            for c in at_risk
        ],
        "fading_advocates": [
            {"advocate_id": a.advocate_id, "email": a.email, "recent": a.recent, "usual": a.usual}
            for a in fading
        ],
    }


PLACEMENT_RATES = ("share_rate", "click_rate", "referral_rate", "purchase_rate")


def _as_percent(row: dict) -> dict:
    """A placement funnel row with its rates (fractions from storefront) as percentages."""
    return {
        k: (selectors.rate(v, 1) if k in PLACEMENT_RATES and v is not None else v)
        for k, v in row.items()
    }


def csv_rows(name: str, data: dict) -> tuple[list[str], list[list]]:
    """One dashboard table as a header and rows."""
    if name == "cards":
        return ["metric", "value", "previous period", "change"], [
            [c.label, c.value, c.previous, c.delta] for c in data["cards"]
        ]
    if name == "goals":
        return ["goal", "metric", "target", "deadline", "value", "percent", "status"], [
            [p.goal.name, p.goal.metric, p.goal.target, p.goal.deadline, p.value, p.percent,
             p.status]
            for p in data["goals"]
        ]  # fmt: skip
    if name == "cohorts":
        width = max((len(c["months"]) for c in data["cohorts"]), default=0)
        header = ["cohort", "customers"] + [f"month {i}" for i in range(width)]
        return header, [[c["cohort"], c["customers"], *c["months"]] for c in data["cohorts"]]
    rows = data[name]
    header = list(rows[0].keys()) if rows else []
    return header, [list(r.values()) for r in rows]


CSV_TABLES = ("cards", "funnel", "daily", "advocates", "channels", "cohorts", "nps_trend",
              "journey", "goals", "placements", "at_risk", "fading_advocates")  # fmt: skip
# Rows of the at-risk and fading lists shown on the page (the CSV has them all).
LIST_ROWS = 10
