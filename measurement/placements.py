"""The funnel by placement (docs/metrics.md, "Placements") from ``PlacementDayRollup``.

The same numbers as ``storefront.selectors.placement_funnel`` for whole UTC days:
finished days from the rollup, the live days (``daily.live_from``) and marked days from
the raw rows. Unique impressions and sharers are distinct viewers over the period,
so the rollup keeps one row per viewer for those two steps.
"""

from collections import defaultdict
from datetime import UTC, date, timedelta

from django.db.models import Count, Sum, Value
from django.db.models.functions import Coalesce, NullIf, TruncDate

from advocacy.models import Program
from referrals.models import Click, Conversion, Referral
from storefront.models import PlacementEvent

from .daily import _live_runs, day_start, finished, memo
from .models import PlacementDayRollup

STEPS = ("impression", "share", "click", "referral", "purchase")
PEOPLE = {"impression": "unique_impressions", "share": "sharers"}
COUNTS = {
    "impression": "impressions",
    "share": "shares",
    "click": "clicks",
    "referral": "referrals",
    "purchase": "purchases",
}

# (day, placement, step, viewer) -> count
PlacementDays = dict[tuple[date, str, str, str], int]


def _day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=UTC)


@memo
def raw_placement_days(program: Program, start: date, end: date) -> PlacementDays:
    """Each day's counts per placement and step over [start, end), from the raw rows."""
    lo, hi = day_start(start), day_start(end)
    out: PlacementDays = defaultdict(int)
    events = (
        PlacementEvent.objects.filter(program=program, created_at__gte=lo, created_at__lt=hi)
        .annotate(d=_day("created_at"))
        .values_list("d", "placement", "kind", "viewer")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for d, placement, kind, viewer, n in events:
        out[(d, placement or "", kind, viewer)] += n
    counted = [
        ("click", Click.objects.filter(program=program, created_at__gte=lo, created_at__lt=hi)
         .annotate(d=_day("created_at")).values_list("d", "placement")),
        ("referral", Referral.objects.filter(program=program, created_at__gte=lo, created_at__lt=hi)
         .exclude(status=Referral.Status.REJECTED)
         .annotate(d=_day("created_at")).values_list("d", "placement")),
        ("purchase", Conversion.objects.filter(
            program=program, occurred_at__gte=lo, occurred_at__lt=hi, attributed=True,
            backfill=False)
         .annotate(d=_day("occurred_at"),
                   at=Coalesce(NullIf("referral__placement", Value("")), "click__placement"))
         .values_list("d", "at")),
    ]  # fmt: skip
    for step, rows in counted:
        for d, placement, n in rows.annotate(n=Count("pk")).order_by():
            out[(d, placement or "", step, "")] += n
    return dict(out)


def funnel(program: Program, date_from: date, date_to: date, *, source: str = "rollup"):
    """The funnel per placement over the days [date_from, date_to], each step counted
    by its own time; rates as fractions (as storefront's selector gives them)."""
    end = date_to + timedelta(days=1)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STEPS, 0))
    people: dict[tuple[str, str], int] = defaultdict(int)
    live_viewers: dict[tuple[str, str], set[str]] = defaultdict(set)
    if source == "raw":
        runs = [(date_from, end)]
    else:
        final_end, marked, runs = _live_runs(program, date_from, end)
        final = PlacementDayRollup.objects.filter(
            program=program, day__gte=date_from, day__lt=final_end
        ).exclude(day__in=marked)
        for r in finished(
            program,
            ("placements", date_from, final_end, tuple(marked)),
            lambda: list(
                final.values("placement", "step")
                .annotate(n=Sum("count"), p=Count("viewer", distinct=True))
                .order_by()
            ),
        ):
            counts[r["placement"]][r["step"]] += r["n"]
            if r["step"] in PEOPLE:
                people[(r["placement"], r["step"])] += r["p"]
    for lo, hi in runs:
        for (_, placement, step, viewer), n in raw_placement_days(program, lo, hi).items():
            counts[placement][step] += n
            if step in PEOPLE:
                live_viewers[(placement, step)].add(viewer)
    for (placement, step), viewers in live_viewers.items():
        seen = set()
        if source != "raw":
            seen = set(
                final.filter(placement=placement, step=step, viewer__in=viewers).values_list(
                    "viewer", flat=True
                )
            )
        people[(placement, step)] += len(viewers - seen)
    rows = []
    for placement, c in counts.items():
        row = {"placement": placement}
        for step in STEPS:
            row[COUNTS[step]] = c[step]
            if step in PEOPLE:
                row[PEOPLE[step]] = people[(placement, step)]
        row["share_rate"] = _rate(row["sharers"], row["unique_impressions"])
        row["click_rate"] = _rate(row["clicks"], row["shares"])
        row["referral_rate"] = _rate(row["referrals"], row["clicks"])
        row["purchase_rate"] = _rate(row["purchases"], row["referrals"])
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["purchases"], -r["clicks"], r["placement"]))


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def placements_rebuild(*, program: Program, day: date) -> bool:
    """Count one day's placement rows again from the raw rows; whether any changed."""
    rows = {k: n for k, n in raw_placement_days(program, day, day + timedelta(days=1)).items() if n}
    old = PlacementDayRollup.objects.filter(program=program, day=day)
    before = {
        (d, placement, step, viewer): n
        for d, placement, step, viewer, n in old.values_list(
            "day", "placement", "step", "viewer", "count"
        )
    }
    old.delete()
    PlacementDayRollup.objects.bulk_create(
        [
            PlacementDayRollup(
                program=program, day=d, placement=placement, step=step, viewer=viewer, count=n
            )
            for (d, placement, step, viewer), n in rows.items()
        ],
        batch_size=5000,
    )
    return before != rows
