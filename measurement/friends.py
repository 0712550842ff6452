"""Referred friends' outcomes: the referral conversion rate and the journey's "considering".

``ReferralRollup`` holds one row per referral (by the day it was created) with the
day of its first attributed counted order (``converted_on``) and the first day its
friend's customer key has a counted order (``bought_on``). ``referrals_rebuild``
keeps both exact when a day is rebuilt; readers count the finished days' rows in SQL
and the live days (``daily.live_from``) from the raw rows, like every other rollup.
Formulas are in ``docs/metrics.md``.
"""

from datetime import UTC, date, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, TruncDate

from advocacy.models import Program
from referrals.models import Conversion, Referral

from .customers import raw_customer_days
from .daily import AnyOf, counted_orders, day_start, finished, live_from, marked_days
from .models import CustomerDayRollup, ReferralRollup

# The friend as the journey matches them against customers.
FRIEND_KEY = Coalesce("friend_external_id", "friend_email_normalized")
CHUNK = 1000


def _first_order_day():
    """The referral's first attributed counted order's day (a correlated subquery)."""
    return Subquery(
        Conversion.objects.filter(
            program_id=OuterRef("program_id"),
            referral_id=OuterRef("referral_id"),
            attributed=True,
            refunded_minor__lt=F("amount_minor"),
        )
        .order_by("occurred_at")
        .annotate(d=TruncDate("occurred_at", tzinfo=UTC))
        .values("d")[:1]
    )


def _first_bought_day():
    """The friend's first day with a counted order, from the customer day rollups."""
    return Subquery(
        CustomerDayRollup.objects.filter(program_id=OuterRef("program_id"), key=OuterRef("key"))
        .order_by("day")
        .values("day")[:1]
    )


def _chunks(items: list):
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def referrals_rebuild(*, program: Program, day: date, changed_keys: set[str]) -> bool:
    """Rebuild the referrals created on ``day`` and update the outcome of every referral
    whose orders or friend's customer days ``day`` holds (called by the day's rebuild,
    after its ``CustomerDayRollup`` rows; ``changed_keys`` are the customers who gained
    or lost that day's row). Whether any row changed."""
    lo, hi = day_start(day), day_start(day + timedelta(days=1))
    rows = ReferralRollup.objects.filter(program=program)
    # Referrals with an order on this day (bought, refunded, repeated) and those whose
    # first order was on it: their first order day may have moved.
    ordered = list(
        Conversion.objects.filter(
            program=program, occurred_at__gte=lo, occurred_at__lt=hi, referral__isnull=False
        )
        .values_list("referral_id", flat=True)
        .distinct()
    )
    before = _outcomes(rows, day, ordered, changed_keys)
    ReferralRollup.objects.filter(program=program, day=day).delete()
    created = Referral.objects.filter(program=program, created_at__gte=lo, created_at__lt=hi)
    ReferralRollup.objects.bulk_create(
        [
            ReferralRollup(program=program, day=day, referral_id=pk, key=key or "")
            for pk, key in created.values_list("pk", FRIEND_KEY).iterator(chunk_size=5000)
        ],
        batch_size=5000,
    )
    rows.filter(day=day).update(converted_on=_first_order_day(), bought_on=_first_bought_day())
    for ids in _chunks(ordered):
        rows.filter(referral_id__in=ids).update(converted_on=_first_order_day())
    rows.filter(converted_on=day).update(converted_on=_first_order_day())
    for keys in _chunks(sorted(changed_keys)):
        rows.filter(key__in=keys).update(bought_on=_first_bought_day())
    # Every row the updates above could reach, before and after (by referral: a row whose
    # first order left this day is found again by its id).
    after = _outcomes(rows, day, [*ordered, *before], changed_keys)
    return before != after


def _outcomes(rows, day: date, referral_ids, keys) -> dict[int, tuple]:
    """referral id -> (day, key, converted_on, bought_on) of the rows created on ``day``,
    converted on it, or picked by referral id or friend's key."""
    out: dict[int, tuple] = {}
    fields = ("referral_id", "day", "key", "converted_on", "bought_on")
    picks = [rows.filter(day=day), rows.filter(converted_on=day)]
    picks += [rows.filter(referral_id__in=ids) for ids in _chunks(sorted(set(referral_ids)))]
    picks += [rows.filter(key__in=k) for k in _chunks(sorted(keys))]
    for pick in picks:
        for referral_id, *outcome in pick.values_list(*fields):
            out[referral_id] = tuple(outcome)
    return out


def raw_referral_conversion(program: Program, start, end) -> tuple[int, int]:
    """(referrals created in [start, end), of which the friend bought, attributed, before
    ``end``), from the raw rows."""
    referrals = Referral.objects.filter(program=program, created_at__gte=start, created_at__lt=end)
    # Correlated: one probe of the orders' referral index per referral (the live days'
    # few thousand), not a pass over every order of the program.
    bought = counted_orders(program).filter(
        attributed=True, occurred_at__lt=end, referral_id=OuterRef("pk")
    )
    counts = referrals.aggregate(n=Count("pk"), c=Count("pk", filter=Exists(bought)))
    return counts["n"], counts["c"]


def _pending(program: Program, end_day: date) -> bool:
    """Marked days before the live ones: their rows may be stale, so count raw."""
    live = live_from(program)
    return any(d < min(end_day, live) for d in marked_days(program))


def referral_conversion(
    program: Program, date_from: date, date_to: date, *, source: str = "rollup"
) -> tuple[int, int]:
    """(referrals created in the period, of which the friend bought, attributed, by ``to``)."""
    start, end_day = date_from, date_to + timedelta(days=1)
    if source == "raw" or _pending(program, end_day):
        return raw_referral_conversion(program, day_start(start), day_start(end_day))
    live = live_from(program)
    final_end = max(min(end_day, live), start)
    total = converted = 0
    if start < final_end:
        rows = ReferralRollup.objects.filter(program=program, day__gte=start, day__lt=final_end)
        bought = Q(converted_on__lt=final_end)
        total, converted = finished(
            program,
            ("conversion", start, final_end),
            lambda: tuple(rows.aggregate(n=Count("pk"), c=Count("pk", filter=bought)).values()),
        )
        if end_day > live:
            # First orders in the live days are read from the orders themselves.
            late = list(
                counted_orders(program)
                .filter(
                    attributed=True,
                    referral__isnull=False,
                    occurred_at__gte=day_start(live),
                    occurred_at__lt=day_start(end_day),
                )
                .values_list("referral_id", flat=True)
                .distinct()
            )
            if late:
                converted += _not_yet(
                    ReferralRollup.objects.filter(AnyOf("referral_id", late), program=program),
                    start,
                    final_end,
                    "converted_on",
                )
    if end_day > final_end:
        n, c = raw_referral_conversion(program, day_start(final_end), day_start(end_day))
        total, converted = total + n, converted + c
    return total, converted


def _not_yet(candidates, start: date, final_end: date, field: str) -> int:
    """Of ``candidates`` (rollup rows picked by an index: the live days' few hundred
    buyers or orders), those created in [start, final_end) whose ``field`` day is not
    before ``final_end``. Filtered here, not in SQL: with the period's range as well,
    PostgreSQL scanned the period's rows checking each against the long key list."""
    return sum(
        1
        for day, on in candidates.values_list("day", field)
        if start <= day < final_end and not (on is not None and on < final_end)
    )


def raw_considering(program: Program, start, end, customers) -> int:
    friends = Referral.objects.filter(
        program=program, created_at__gte=start, created_at__lt=end
    ).values_list(FRIEND_KEY, flat=True)
    return sum(1 for key in friends.iterator(chunk_size=10000) if key not in customers)


def considering(
    program: Program,
    date_from: date,
    date_to: date,
    customers: dict,
    segment_keys: frozenset[str] | None = None,
    *,
    source: str = "rollup",
) -> int:
    """Referrals created in the period whose friend is not among ``customers`` (the
    customers with a counted order before the end, limited to the segment if any)."""
    start, end_day = date_from, date_to + timedelta(days=1)
    if source == "raw" or _pending(program, end_day):
        return raw_considering(program, day_start(start), day_start(end_day), customers)
    live = live_from(program)
    final_end = max(min(end_day, live), start)
    out = 0
    if start < final_end:
        rows = ReferralRollup.objects.filter(program=program, day__gte=start, day__lt=final_end)
        rows_in = rows if segment_keys is None else rows.filter(key__in=segment_keys)
        bought = Q(bought_on__lt=final_end)
        n = finished(program, ("referrals", start, final_end), rows.count)
        if segment_keys is None:
            b = finished(program, ("bought", start, final_end), rows.filter(bought).count)
        else:
            b = rows_in.filter(bought).count()
        if end_day > live:
            recent = {key for _, key in raw_customer_days(program, live, end_day)}
            if segment_keys is not None:
                recent &= segment_keys
            if recent:
                b += _not_yet(
                    ReferralRollup.objects.filter(AnyOf("key", sorted(recent)), program=program),
                    start,
                    final_end,
                    "bought_on",
                )
        out = n - b
    if end_day > final_end:
        out += raw_considering(program, day_start(final_end), day_start(end_day), customers)
    return out
