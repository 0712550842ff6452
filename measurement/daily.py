"""Day-level counts per program x day x advocate x channel x link.

``raw_day_rows`` counts them from the raw tables; ``day_rows`` reads the
rollups for finished, unmarked days and counts the rest (today, days with
pending marks) raw, so what it returns is always current. Definitions are in
``docs/metrics.md``.
"""

import contextlib
import dataclasses
import functools
import gc
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import BooleanField, Count, Expression, F, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from advocacy.models import Advocate, Program
from nurture.models import ChallengeSubmission, Moderation, Testimonial
from recruitment.models import CampaignRecipient
from referrals.models import Click, Conversion, Referral
from rewards.models import Reward

from .models import DailyRollup, ProgramDayRollup, RollupMark

FIELDS = (
    "invited",
    "joined",
    "clicks",
    "referrals",
    "purchases",
    "revenue_minor",
    "reward_cost_minor",
    "excluded_orders",
)

# Day counts without an advocate/channel grain (``ProgramDayRollup`` only).
EXTRAS = ("activated", "reviews", "testimonials", "other_submissions")
EPOCH = date(1970, 1, 1)

# (day, advocate_id, channel, link_id) -> {field: value}
Rows = dict[tuple[date, int | None, str, int | None], dict[str, int]]


# ----------------------------------------------------------------- one request's reads

_memo: ContextVar[dict | None] = ContextVar("measurement_memo", default=None)


@contextlib.contextmanager
def memoized():
    """Within the block, raw counts of the same days and the marks are read once.

    A dashboard shows one period several ways (cards, charts, tables): each asks for
    the live days' raw rows, which this reads from the database only the first time.
    """
    token = _memo.set({})
    try:
        yield
    finally:
        filled = _memo.get().get(_FILLED)
        _memo.reset(token)
        if filled:
            _freeze()


def memo(fn):
    """Cache ``fn(program, *args)`` by (program id, args) inside ``memoized()``; the
    cached value is shared, so callers must not change it."""

    @functools.wraps(fn)
    def wrapper(program, *args, **kwargs):
        cache = _memo.get()
        if cache is None:
            return fn(program, *args, **kwargs)
        key = (fn.__qualname__, fn.__module__, program.pk, args, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = fn(program, *args, **kwargs)
        return cache[key]

    return wrapper


# ----------------------------------------------------------------- long lists of values


class AnyOf(Expression):
    """``column IN values`` for thousands of values: on PostgreSQL ``column = ANY(%s)``
    with the list as one array parameter. Django's ``__in`` gives each value its own
    placeholder, which psycopg then splits and quotes one by one (tens of ms for the live
    days' few thousand keys). Use in ``filter()``: ``filter(AnyOf("key", keys))``."""

    output_field = BooleanField()

    def __init__(self, column: str, values: Iterable):
        super().__init__()
        self.lhs = F(column)
        self.values = list(values)

    def get_source_expressions(self):
        return [self.lhs]

    def set_source_expressions(self, exprs):
        (self.lhs,) = exprs

    def as_sql(self, compiler, connection):
        lhs, params = compiler.compile(self.lhs)
        if not self.values:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*params, self.values]
        return f"{lhs} IN ({', '.join(['%s'] * len(self.values))})", [*params, *self.values]


# ----------------------------------------------------------------- finished days, cached

# What was read about finished days, in this process: (program, version, what) -> value.
# A rollup rebuild gives the program a new version (in the shared cache), so a worker
# never serves what it read before a rebuild; live days are never cached.
_finished: OrderedDict = OrderedDict()
FINISHED_ENTRIES = 64  # a per-customer read of a large program is tens of MB


def _version_key(program: Program) -> str:
    return f"measurement:rollups:{program.pk}:{program.slug}"


def rollups_changed(program: Program) -> None:
    """A rebuild of the program's rollups: drop what every process read of its finished
    days (now, and again when the rebuild commits, so no reader between keeps old rows)."""

    def bump():
        with contextlib.suppress(Exception):
            cache.set(_version_key(program), uuid.uuid4().hex, None)

    bump()
    transaction.on_commit(bump)


def _version(program: Program) -> str | None:
    cached = _memo.get()
    if cached is not None and ("version", program.pk) in cached:
        return cached[("version", program.pk)]
    try:
        version = cache.get(_version_key(program))
        if version is None:
            cache.add(_version_key(program), uuid.uuid4().hex, None)
            version = cache.get(_version_key(program))
    except Exception:
        version = None  # no shared cache: read every time
    if cached is not None:
        cached[("version", program.pk)] = version
    return version


def finished(program: Program, what: tuple, read):
    """``read()``'s value, which depends on finished (rebuilt, unmarked) days only,
    cached in this process until the program's rollups are rebuilt. Callers must not
    change it."""
    version = _version(program)
    if version is None:
        return read()
    key = (program.pk, version, what)
    if key in _finished:
        _finished.move_to_end(key)
        return _finished[key]
    value = read()
    _finished[key] = value
    while len(_finished) > FINISHED_ENTRIES:
        _finished.popitem(last=False)
    if _size(value) >= FREEZE_AT:
        request = _memo.get()
        if request is None:
            _freeze()
        else:
            request[_FILLED] = True  # once, when the request's block ends
    return value


_FILLED = object()
# A fill this large (entries of a dict, list or set) is kept out of the garbage
# collector's walks (``_freeze``); a small program's numbers are not worth a collection.
FREEZE_AT = 10_000


def _size(value) -> int:
    if dataclasses.is_dataclass(value):
        return sum(_size(v) for v in vars(value).values())
    try:
        return len(value)
    except TypeError:
        return 0


def _freeze() -> None:
    """Keep the cyclic garbage collector away from what ``finished`` holds.

    A large program's finished days are hundreds of thousands of small objects (a
    customer's numbers each), kept until the next rebuild. Left tracked, every full
    collection walks them all, and requests that build a few thousand objects trigger
    such collections: a quarter to a third of a warm dashboard's time went there. So
    after a fill, everything alive is moved to the permanent generation
    (``gc.freeze``). Objects that die later are still freed by their reference counts;
    what was frozen at the previous fill is given back first and collected, so cycles
    among dropped entries are reclaimed at the next fill rather than never."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@memo
def marked_days(program: Program) -> frozenset[date]:
    """The program's days with a pending mark (read raw until rebuilt)."""
    return frozenset(
        RollupMark.objects.filter(program=program).values_list("day", flat=True).distinct()
    )


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=UTC)


def counted_orders(program: Program):
    """Orders that count: not fully refunded (net of refunds above zero)."""
    return Conversion.objects.filter(program=program, refunded_minor__lt=F("amount_minor"))


# The parts of a row's key, in ``Rows`` order, and their value where a source has none.
PARTS = ("day", "advocate", "channel", "link")
DEFAULT = {"advocate": None, "channel": "", "link": None}


def _sources(program: Program, lo: datetime, hi: datetime) -> list[tuple]:
    """What each field counts over [lo, hi): (rows, key parts, field aggregates). A part
    is an expression, or a constant where the rows have none (e.g. reward cost has no
    channel). The one definition of every day count, whatever the grain."""
    orders = counted_orders(program).filter(occurred_at__gte=lo, occurred_at__lt=hi)
    return [
        (
            Click.objects.filter(program=program, created_at__gte=lo, created_at__lt=hi),
            {"day": _day("created_at"), "advocate": F("advocate_id"),
             "channel": F("channel"), "link": F("link_id")},
            {"clicks": Count("pk")},
        ),
        (
            Referral.objects.filter(program=program, created_at__gte=lo, created_at__lt=hi),
            {"day": _day("created_at"), "advocate": F("advocate_id"),
             "channel": Coalesce(NullIf("click__channel", Value("")), "link__channel", Value("")),
             "link": F("link_id")},
            {"referrals": Count("pk")},
        ),
        (
            orders.filter(attributed=True, backfill=False, currency=program.currency),
            {"day": _day("occurred_at"), "advocate": F("advocate_id"),
             "channel": Coalesce(
                 NullIf("click__channel", Value("")),
                 NullIf("referral__click__channel", Value("")),
                 "referral__link__channel",
                 Value(""),
             ),
             "link": Coalesce("click__link_id", "referral__link_id")},
            {"purchases": Count("pk"),
             "revenue_minor": Sum(F("amount_minor") - F("refunded_minor"))},
        ),
        (
            orders.exclude(currency=program.currency),
            {**DEFAULT, "day": _day("occurred_at")},
            {"excluded_orders": Count("pk")},
        ),
        (
            Reward.objects.filter(
                program=program,
                kind=Reward.Kind.CASH,
                currency=program.currency,
                created_at__gte=lo,
                created_at__lt=hi,
            ),
            {**DEFAULT, "day": _day("created_at"), "advocate": F("advocate_id")},
            {"reward_cost_minor": Sum(F("amount_minor") - F("reversed_minor"))},
        ),
        (
            Advocate.objects.filter(program=program, created_at__gte=lo, created_at__lt=hi)
            .exclude(status=Advocate.Status.INVITED),
            {**DEFAULT, "day": _day("created_at"), "advocate": F("pk")},
            {"joined": Count("pk")},
        ),
        (
            CampaignRecipient.objects.filter(
                campaign__program=program, sent_at__gte=lo, sent_at__lt=hi
            ),
            {**DEFAULT, "day": _day("sent_at")},
            {"invited": Count("pk")},
        ),
        (
            Advocate.objects.filter(
                program=program, invitation_sent_at__gte=lo, invitation_sent_at__lt=hi
            ),
            {**DEFAULT, "day": _day("invitation_sent_at")},
            {"invited": Count("pk")},
        ),
    ]  # fmt: skip


@memo
def raw_counts(program: Program, start: date, end: date, grain: tuple[str, ...]) -> dict:
    """``FIELDS`` over the days [start, end) from the raw rows, grouped in SQL by the
    ``grain``'s parts (a subset of ``PARTS``, in that order; ``()``: the totals):
    key tuple -> {field: value}. The live days' readers ask for the grain they show,
    so a total over a day's 50,000 clicks is one row, not thousands."""
    lo, hi = day_start(start), day_start(end)
    rows: dict = {}
    for queryset, parts, aggregates in _sources(program, lo, hi):
        grouped = [p for p in grain if not _constant(parts[p])]
        names = list(aggregates)
        if not grouped:  # the totals, or every part of the grain constant here
            found = queryset.aggregate(**aggregates)
            found = [tuple(found[f] for f in names)]
        else:
            # Tuples, not dicts: a live day grouped by advocate is tens of thousands of
            # rows, and their handling was most of the time of reading it.
            found = (
                queryset.annotate(**{f"k_{p}": parts[p] for p in grouped})
                .values(*(f"k_{p}" for p in grouped))
                .annotate(**aggregates)
                .values_list(*(f"k_{p}" for p in grouped), *names)
                .order_by()
            )
        width = len(grouped)
        # Where each key part comes from: the row's column, or the source's constant.
        column = {p: i for i, p in enumerate(grouped)}
        simple = width == len(grain)  # the row's first columns are the key
        constants = [(i, parts[p]) for i, p in enumerate(grain) if p not in column]
        for row in found:
            values = row[width:]
            if not any(values):
                continue
            if simple:
                key = row[:width]
            else:
                key = [row[column[p]] if p in column else None for p in grain]
                for i, value in constants:
                    key[i] = value
                key = tuple(key)
            target = rows.get(key)
            if target is None:
                target = rows[key] = dict.fromkeys(FIELDS, 0)
            for f, value in zip(names, values, strict=True):
                if value:
                    target[f] += value
    return rows


def _constant(part) -> bool:
    """A key part the source has no column for (``DEFAULT``), not an expression."""
    return not hasattr(part, "resolve_expression")


def raw_day_rows(program: Program, start: date, end: date) -> Rows:
    """Counts for the days [start, end) from the raw rows, at the rollups' grain."""
    return raw_counts(program, start, end, PARTS)


@memo
def raw_sharers(program: Program, start: date, end: date) -> frozenset[int]:
    """Advocates with a click over the days [start, end), from the raw rows."""
    return frozenset(
        Click.objects.filter(
            program=program,
            created_at__gte=day_start(start),
            created_at__lt=day_start(end),
            advocate__isnull=False,
        )
        .values_list("advocate_id", flat=True)
        .order_by()
        .distinct()
    )


@memo
def raw_day_extras(program: Program, start: date, end: date) -> dict[date, dict[str, int]]:
    """``EXTRAS`` per day over [start, end) from the raw rows: advocates active now by the
    day they were created, approved reviews, testimonials and other submissions."""
    lo, hi = day_start(start), day_start(end)
    out: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(EXTRAS, 0))
    active = (
        Advocate.objects.filter(
            program=program, status=Advocate.Status.ACTIVE, created_at__gte=lo, created_at__lt=hi
        )
        .annotate(d=_day("created_at"))
        .values_list("d")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for d, n in active:
        out[d]["activated"] += n
    submissions = (
        ChallengeSubmission.objects.filter(
            challenge__program=program,
            status=Moderation.APPROVED,
            created_at__gte=lo,
            created_at__lt=hi,
        )
        .annotate(d=_day("created_at"))
        .values_list("d", "challenge__kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for d, kind, n in submissions:
        out[d]["reviews" if kind == "review" else "other_submissions"] += n
    testimonials = (
        Testimonial.objects.filter(
            program=program, status=Moderation.APPROVED, created_at__gte=lo, created_at__lt=hi
        )
        .annotate(d=_day("created_at"))
        .values_list("d")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for d, n in testimonials:
        out[d]["testimonials"] += n
    return dict(out)


def rollup_day_rows(program: Program, days: Iterable[date]) -> Rows:
    rows: Rows = {}
    for r in DailyRollup.objects.filter(program=program, day__in=list(days)).values():
        key = (r["day"], r["advocate_id"], r["channel"], r["link_id"])
        rows[key] = {f: r[f] for f in FIELDS}
    return rows


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Contiguous [start, end) ranges covering the sorted ``days``."""
    runs: list[tuple[date, date]] = []
    for d in days:
        if runs and runs[-1][1] == d:
            runs[-1] = (runs[-1][0], d + timedelta(days=1))
        else:
            runs.append((d, d + timedelta(days=1)))
    return runs


def day_rows(program: Program, start: date, end: date, *, source: str = "rollup") -> Rows:
    """Counts for the days [start, end): rollups where final, raw for the rest."""
    if source == "raw":
        return raw_day_rows(program, start, end)
    today = live_from(program)
    marked = {d for d in marked_days(program) if start <= d < end}
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    live = sorted(d for d in days if d >= today or d in marked)
    final = [d for d in days if d < today and d not in marked]
    rows = rollup_day_rows(program, final) if final else {}
    for lo, hi in _runs(live):
        rows.update(raw_day_rows(program, lo, hi))
    return rows


def raw_totals(program: Program, start: date, end: date) -> dict[str, int]:
    """``FIELDS`` summed over the days [start, end) from the raw rows (shared within a
    request: callers must not change it)."""
    return raw_counts(program, start, end, ()).get((), dict.fromkeys(FIELDS, 0))


def totals(rows: Rows) -> dict[str, int]:
    out = dict.fromkeys(FIELDS, 0)
    for values in rows.values():
        for f in FIELDS:
            out[f] += values[f]
    return out


# ----------------------------------------------------------------- aggregated reads

COLUMN = {"day": "day", "advocate": "advocate_id", "channel": "channel", "link": "link_id"}


# How long after a day ends its rollup is trusted to hold all of it: clicks reach the
# database from the web workers' spools within seconds, so a rebuild that starts this
# long after midnight counts every click of the day before (later stragglers, such as a
# killed worker's spool written at its restart, wait for the hourly sweep).
SETTLE = timedelta(minutes=15)


def _settled_key(program: Program, day: date) -> str:
    return f"measurement:settled:{program.pk}:{program.slug}:{day.isoformat()}"


def day_settled(program: Program, day: date, started: datetime) -> None:
    """A rebuild of ``day`` that started at ``started`` (called inside its transaction):
    if that was at least ``SETTLE`` after the day ended, readers may take the day from
    its rollup once the rebuild commits, for as long as no event marks it again."""
    if started < day_start(day + timedelta(days=1)) + SETTLE:
        return

    def remember():
        with contextlib.suppress(Exception):
            cache.set(_settled_key(program, day), True, 3 * 24 * 3600)

    transaction.on_commit(remember)


@memo
def live_from(program: Program) -> date:
    """The first day counted from the raw rows: today (UTC) once yesterday's rollup was
    rebuilt ``SETTLE`` after midnight and nothing marked yesterday since (events of
    yesterday reported today mark it); until then, yesterday. Without a shared cache,
    always yesterday."""
    today = timezone.now().astimezone(UTC).date()
    yesterday = today - timedelta(days=1)
    if yesterday in marked_days(program):
        return yesterday
    try:
        settled = cache.get(_settled_key(program, yesterday))
    except Exception:
        settled = None
    return today if settled else yesterday


def _final_and_live(program: Program, start: date, end: date) -> tuple[QuerySet, list]:
    """The rollup rows of finished, unmarked days, and the [lo, hi) runs to count raw."""
    today = live_from(program)
    marked = sorted(d for d in marked_days(program) if start <= d < end)
    final = DailyRollup.objects.filter(
        program=program, day__gte=start, day__lt=min(end, max(today, start))
    ).exclude(day__in=marked)
    days = (start + timedelta(days=i) for i in range((end - start).days))
    live = sorted({d for d in marked if d < today} | {d for d in days if d >= today})
    return final, _runs(live)


def _live_runs(program: Program, start: date, end: date) -> tuple[date, list[date], list]:
    """(end of the finished days, marked days among them, [lo, hi) runs to count raw)."""
    today = live_from(program)
    final_end = max(min(end, today), start)
    marked = sorted(d for d in marked_days(program) if start <= d < final_end)
    live = [max(start, today) + timedelta(days=i) for i in range((end - max(start, today)).days)]
    return final_end, marked, _runs(sorted(set(marked) | set(live)))


def day_totals(program: Program, start: date, end: date, *, source: str = "rollup") -> dict:
    """``FIELDS`` and ``EXTRAS`` summed over the days [start, end) (``start`` may be
    ``EPOCH``: everything before ``end``), from one ``ProgramDayRollup`` row per
    finished day plus the live and marked days counted raw (shared within a request:
    callers must not change it)."""
    return _day_totals(program, start, end, source)


@memo
def _day_totals(program: Program, start: date, end: date, source: str) -> dict:
    out = dict.fromkeys((*FIELDS, *EXTRAS), 0)

    def add_raw(lo: date, hi: date) -> None:
        for f, v in raw_totals(program, lo, hi).items():
            out[f] += v
        for values in raw_day_extras(program, lo, hi).values():
            for f, v in values.items():
                out[f] += v

    if source == "raw":
        add_raw(start, end)
        return out
    final_end, marked, runs = _live_runs(program, start, end)
    sums = finished(
        program,
        ("day_totals", start, final_end, tuple(marked)),
        lambda: (
            ProgramDayRollup.objects.filter(program=program, day__gte=start, day__lt=final_end)
            .exclude(day__in=marked)
            .aggregate(**{f: Sum(f) for f in out})
        ),
    )
    for f in out:
        out[f] += sums[f] or 0
    for lo, hi in runs:
        add_raw(lo, hi)
    return out


def summary(program: Program, start: date, end: date, *, source: str = "rollup"):
    """(totals of every field, advocates with a click) over the days [start, end)."""
    if source == "raw":
        return raw_totals(program, start, end), len(raw_sharers(program, start, end))
    final, runs = _final_and_live(program, start, end)
    sums = day_totals(program, start, end)
    out = {f: sums[f] for f in FIELDS}
    sharing = set(
        finished(
            program,
            ("sharing", str(final.query)),
            lambda: frozenset(
                final.filter(clicks__gt=0, advocate__isnull=False)
                .values_list("advocate_id", flat=True)
                .distinct()
            ),
        )
    )
    for lo, hi in runs:
        sharing |= raw_sharers(program, lo, hi)
    return out, len(sharing)


def grouped_parts(program: Program, start: date, end: date, by: str) -> tuple[dict, tuple, dict]:
    """``grouped``'s two parts: (the finished, unmarked days' totals per group, kept by the
    process, with their cache key; the live and marked days' totals per group, counted
    raw). Both are shared: callers must not change them."""
    final, runs = _final_and_live(program, start, end)
    column = COLUMN[by]

    def read() -> dict:
        rows = final.values(column).annotate(**{f"s_{f}": Sum(f) for f in FIELDS}).order_by()
        return {row[column]: {f: row[f"s_{f}"] or 0 for f in FIELDS} for row in rows}

    key = ("grouped", column, str(final.query))
    kept = finished(program, key, read)
    if len(runs) == 1:
        return kept, key, _live_grouped(program, *runs[0], by)
    raw: dict = {}
    for lo, hi in runs:
        for group, values in _live_grouped(program, lo, hi, by).items():
            target = raw.setdefault(group, dict.fromkeys(FIELDS, 0))
            for f in FIELDS:
                target[f] += values[f]
    return kept, key, raw


def _live_grouped(program: Program, lo: date, hi: date, by: str) -> dict:
    """Raw totals per group over the live or marked days [lo, hi). One day's total per day
    is its totals, which the cards read already: no second pass over its rows."""
    if by == "day" and hi - lo == timedelta(days=1):
        day = raw_counts(program, lo, hi, ()).get(())
        return {} if day is None else {lo: day}
    return {k[0]: v for k, v in raw_counts(program, lo, hi, (by,)).items()}


def grouped(program: Program, start: date, end: date, by: str, *, source: str = "rollup") -> dict:
    """Totals over the days [start, end) per day, advocate, channel or link (the inner
    dicts of finished days are shared: callers must not change them)."""
    if source == "raw":
        return {k[0]: v for k, v in raw_counts(program, start, end, (by,)).items()}
    kept, _key, raw = grouped_parts(program, start, end, by)
    out = dict(kept)
    for group, values in raw.items():
        base = kept.get(group)
        out[group] = values if base is None else {f: base[f] + values[f] for f in FIELDS}
    return out
