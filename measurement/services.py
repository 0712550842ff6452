"""Writes of the measurement layer: marking changed days and rebuilding rollups.

Rollups are derived: rebuilding a day deletes its rows and counts them again
from the raw rows, so running it twice, late or after duplicate events gives
the same rows. Rebuilds of one program are serialised by a PostgreSQL
advisory lock, so two workers never interleave their delete and insert.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from advocacy.models import Advocate, Program
from core.errors import ServiceError
from recruitment.models import Customer, Segment
from recruitment.services import segment_save

from . import customers, daily, friends, placements, risk
from .daily import day_start
from .models import (
    CohortRollup,
    CustomerDayRollup,
    DailyRollup,
    NpsDayRollup,
    ProgramDayRollup,
    RollupMark,
)
from .selectors import customer_facts

# The advisory lock's first key: "measurement rollups" (any fixed number).
LOCK_SPACE = 0x6D65


def _lock(program_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_SPACE, program_id])


def _day_of(instant: datetime | None) -> date | None:
    return instant.astimezone(UTC).date() if instant else None


def rollup_mark(*, program_id: int, instants: list[datetime | None]) -> None:
    """Mark the days of ``instants`` changed (called inside the change's transaction).

    Only days before today (UTC) are marked: readers count today from the raw rows
    (and yesterday until its rollup settles, ``daily.live_from``), so the everyday
    path (an order, a reward, a referral of today) costs no query.
    """
    today = timezone.now().astimezone(UTC).date()
    days = {d for d in map(_day_of, instants) if d and d < today}
    if days:
        RollupMark.objects.bulk_create([RollupMark(program_id=program_id, day=d) for d in days])


def rollup_day_rebuild(*, program: Program, day: date) -> int:
    """Count one day of one program again from the raw rows; the number of rows written.

    The workers' kept reads of finished days (``daily.finished``) are dropped only when
    the rebuild changed a row: the hourly sweep rebuilds yesterday and the day before
    whether or not anything arrived, and dropping them each time made every hour's
    first dashboard refill its cache (seconds, for a large program)."""
    started = timezone.now()
    with transaction.atomic():
        _lock(program.pk)
        daily.day_settled(program, day, started)
        changed = False
        rows = daily.raw_day_rows(program, day, day + timedelta(days=1))
        kept = {k: v for k, v in rows.items() if any(v.values())}
        changed |= daily.rollup_day_rows(program, [day]) != kept
        DailyRollup.objects.filter(program=program, day=day).delete()
        DailyRollup.objects.bulk_create(
            [
                DailyRollup(
                    program=program,
                    day=d,
                    advocate_id=advocate_id,
                    channel=channel,
                    link_id=link_id,
                    **values,
                )
                for (d, advocate_id, channel, link_id), values in kept.items()
            ],
            batch_size=5000,
        )
        totals = daily.totals(rows)
        extras = daily.raw_day_extras(program, day, day + timedelta(days=1)).get(day, {})
        day_row = {**totals, **dict.fromkeys(daily.EXTRAS, 0), **extras}
        if not any(day_row.values()):
            day_row = None
        old_row = (
            ProgramDayRollup.objects.filter(program=program, day=day)
            .values(*daily.FIELDS, *daily.EXTRAS)
            .first()
        )
        changed |= old_row != day_row
        ProgramDayRollup.objects.filter(program=program, day=day).delete()
        if day_row is not None:
            ProgramDayRollup.objects.create(program=program, day=day, **day_row)
        buyers = customers.raw_customer_days(program, day, day + timedelta(days=1))
        before = {
            (d, key): (n, net, first)
            for d, key, n, net, first in CustomerDayRollup.objects.filter(
                program=program, day=day
            ).values_list("day", "key", "orders", "net_minor", "first")
        }
        changed |= before != buyers
        CustomerDayRollup.objects.filter(program=program, day=day).delete()
        CustomerDayRollup.objects.bulk_create(
            [
                CustomerDayRollup(
                    program=program, day=d, key=key, orders=n, net_minor=net, first=first
                )
                for (d, key), (n, net, first) in buyers.items()
            ],
            batch_size=5000,
        )
        changed |= friends.referrals_rebuild(
            program=program,
            day=day,
            changed_keys={key for _, key in before} ^ {key for _, key in buyers},
        )
        changed |= placements.placements_rebuild(program=program, day=day)
        answers = customers.raw_nps_days(program, day, day + timedelta(days=1))
        old_answers = {
            (d, key): (alt, category, last)
            for d, key, alt, category, last in NpsDayRollup.objects.filter(
                program=program, day=day
            ).values_list("day", "key", "alt_key", "category", "last")
        }
        changed |= old_answers != answers
        NpsDayRollup.objects.filter(program=program, day=day).delete()
        NpsDayRollup.objects.bulk_create(
            [
                NpsDayRollup(
                    program=program, day=d, key=key, alt_key=alt, category=category, last=last
                )
                for (d, key), (alt, category, last) in answers.items()
            ]
        )
        if changed:
            # Now and again at commit: a reader between the two keeps nothing old.
            daily.rollups_changed(program)
        return len(rows) + len(buyers) + len(answers)


def cohorts_rebuild(*, program: Program) -> int:
    """Retention by cohort: for each month of first order, the customers active each month."""
    facts = customer_facts(program, timezone.now() + timedelta(days=1))
    sizes: dict[date, int] = defaultdict(int)
    active: dict[tuple[date, date], int] = defaultdict(int)
    for f in facts.values():
        cohort = f.first_at.astimezone(UTC).date().replace(day=1)
        sizes[cohort] += 1
        for month in {t.astimezone(UTC).date().replace(day=1) for t in f.order_times}:
            active[(cohort, month)] += 1
    with transaction.atomic():
        _lock(program.pk)
        # No worker keeps a read of the cohort rollup (``selectors.cohort_table`` reads it
        # each time), so their kept reads stay.
        CohortRollup.objects.filter(program=program).delete()
        CohortRollup.objects.bulk_create(
            [
                CohortRollup(
                    program=program, cohort=cohort, month=month, customers=sizes[cohort], active=n
                )
                for (cohort, month), n in sorted(active.items())
            ]
        )
    return len(active)


def rollups_refresh(*, before: date | None = None) -> int:
    """Rebuild every marked day before ``before`` (default today, UTC), then the cohorts
    of the programs touched; the marks seen are deleted, later ones stay for the next run."""
    before = before or timezone.now().astimezone(UTC).date()
    pending = (
        RollupMark.objects.filter(day__lt=before)
        .values("program_id", "day")
        .annotate(last=Max("pk"))
        .order_by("program_id", "day")
    )
    programs: dict[int, Program] = {}
    done = 0
    for mark in pending:
        program = programs.get(mark["program_id"])
        if program is None:
            program = programs[mark["program_id"]] = Program.objects.get(pk=mark["program_id"])
        with transaction.atomic():
            rollup_day_rebuild(program=program, day=mark["day"])
            RollupMark.objects.filter(
                program=program, day=mark["day"], pk__lte=mark["last"]
            ).delete()
        done += 1
    for program in programs.values():
        cohorts_rebuild(program=program)
    return done


def rollups_sweep(*, days: int = 2) -> int:
    """Mark the last ``days`` days of every program (hourly): yesterday and the day
    before are never marked by events, and clicks are written in bulk without events."""
    today = timezone.now().astimezone(UTC).date()
    marks = [
        RollupMark(program_id=pk, day=today - timedelta(days=i))
        for pk in Program.objects.values_list("pk", flat=True)
        for i in range(1, days + 1)
    ]
    RollupMark.objects.bulk_create(marks)
    return len(marks)


def rollups_rebuild(*, program: Program, start: date, end: date) -> int:
    """Mark the days [start, end) of one program and rebuild them (after a bulk import
    of history, say); today is read raw and left to the sweep."""
    last = min(end, timezone.now().astimezone(UTC).date())
    RollupMark.objects.bulk_create(
        [
            RollupMark(program=program, day=start + timedelta(days=i))
            for i in range(max((last - start).days, 0))
        ]
    )
    return rollups_refresh()


# ----------------------------------------------------------------- lists as segments

RISK_LISTS = {
    "at-risk": "At-risk customers",
    "fading-advocates": "Fading advocates",
}
MAX_SEGMENT_IDS = 10_000  # recruitment's limit for a hand-picked list


def risk_segment_save(*, program: Program, kind: str, today: date) -> tuple[Segment, int, int]:
    """Save today's at-risk customers or fading advocates as a recruitment segment.

    The segment is a snapshot (``filters = {"external_ids": [...]}``): a campaign
    to it reaches exactly the customers the manager saw, and saving again on the
    same day refreshes it. Customers are matched to recruitment profiles by
    external id, then by email; fading advocates by their linked profile, external
    id or email. Returns (segment, customers in it, people on the list without a
    profile, who are left out).
    """
    if kind == "at-risk":
        listed = risk.at_risk_customers(program=program, now=day_start(today))
        keys = [c.key for c in listed]
        profiles = Customer.objects.filter(program=program).filter(
            Q(external_id__in=keys) | Q(email_normalized__in=keys)
        )
        found = {}
        for external_id, email in profiles.values_list("external_id", "email_normalized"):
            for key in (external_id, email):
                if key:
                    found.setdefault(key, external_id)
        ids = [found[k] for k in keys if k in found]
    elif kind == "fading-advocates":
        listed = risk.fading_advocates(program=program, today=today)
        advocates = Advocate.objects.filter(pk__in=[a.advocate_id for a in listed])
        by_advocate = dict(
            Customer.objects.filter(program=program, advocate__in=advocates).values_list(
                "advocate_id", "external_id"
            )
        )
        identities = advocates.values_list("pk", "external_id", "email_normalized")
        for pk, external_id, email in identities:
            if pk in by_advocate:
                continue
            match = (
                Customer.objects.filter(program=program)
                .filter(Q(external_id=external_id) if external_id else Q(email_normalized=email))
                .values_list("external_id", flat=True)
                .first()
            )
            if match:
                by_advocate[pk] = match
        ids = [by_advocate[a.advocate_id] for a in listed if a.advocate_id in by_advocate]
    else:
        raise ServiceError("unknown_list", f"No list {kind!r}.", status=404)
    ids = list(dict.fromkeys(ids))[:MAX_SEGMENT_IDS]
    slug = f"{kind}-{today.isoformat()}"
    segment = Segment.objects.filter(program=program, slug=slug).first() or Segment(
        program=program, slug=slug
    )
    segment.name = f"{RISK_LISTS[kind]} ({today.isoformat()})"
    segment.filters = {"external_ids": ids}
    segment = segment_save(segment=segment)
    return segment, len(ids), len(listed) - len(ids)
