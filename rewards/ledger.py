"""The ledger: the only code that appends entries and the only code that sums them.

Every movement of an advocate's money or points is an append-only
``LedgerEntry`` in a bucket (pending, available, in_payout, paid). A balance is
the sum of a bucket's entries, never a stored number. Each entry has a unique
idempotency key derived from its cause, so appending the same movement twice
is refused by the database.
"""

import uuid

from django.db.models import F, QuerySet, Sum, Window

from .models import LedgerEntry, Payout, Redemption, Reward
from .models.ledger import POINTS_CURRENCY

Bucket = LedgerEntry.Bucket
Kind = LedgerEntry.Kind

__all__ = [
    "POINTS_CURRENCY",
    "Bucket",
    "Kind",
    "adjustment_append",
    "available_cash",
    "available_points",
    "balances",
    "payable_totals",
    "payout_move",
    "redemption_append",
    "reward_append",
    "with_running_balance",
]


# --------------------------------------------------------------------- appending


def _append(*, cause: dict, program_id, advocate_id, kind, bucket, amount_minor, currency, key,
            memo="") -> LedgerEntry:  # fmt: skip
    return LedgerEntry.objects.create(
        program_id=program_id,
        advocate_id=advocate_id,
        kind=kind,
        bucket=bucket,
        amount_minor=amount_minor,
        currency=currency,
        idempotency_key=key,
        memo=memo[:200],
        **cause,
    )


def reward_append(
    *, reward: Reward, kind: str, bucket: str, amount_minor: int, key: str, memo: str = ""
) -> LedgerEntry:
    """One movement caused by a reward (issued, matured, reversed, clawed back)."""
    return _append(
        cause={"reward": reward},
        program_id=reward.program_id,
        advocate_id=reward.advocate_id,
        kind=kind,
        bucket=bucket,
        amount_minor=amount_minor,
        currency=reward.currency,
        key=key,
        memo=memo,
    )


def redemption_append(
    *, redemption: Redemption, kind: str, amount_minor: int, key: str, memo: str = ""
) -> LedgerEntry:
    """Points spent on (or returned from) a catalog redemption, on the available balance."""
    return _append(
        cause={"redemption": redemption},
        program_id=redemption.program_id,
        advocate_id=redemption.advocate_id,
        kind=kind,
        bucket=Bucket.AVAILABLE,
        amount_minor=amount_minor,
        currency=POINTS_CURRENCY,
        key=key,
        memo=memo,
    )


def payout_move(*, payout: Payout, kind: str, source: str, target: str, step: str, memo: str):
    """Move a payout's whole amount from one bucket to another (two entries)."""
    for bucket, sign in ((source, -1), (target, 1)):
        _append(
            cause={"payout": payout},
            program_id=payout.program_id,
            advocate_id=payout.advocate_id,
            kind=kind,
            bucket=bucket,
            amount_minor=sign * payout.amount_minor,
            currency=payout.currency,
            key=f"payout:{payout.pk}:{step}:{bucket}",
            memo=memo,
        )


def adjustment_append(*, advocate, amount_minor: int, currency: str, memo: str) -> LedgerEntry:
    """A manager's correction on the available balance (the audit row says who and why)."""
    return _append(
        cause={},
        program_id=advocate.program_id,
        advocate_id=advocate.pk,
        kind=Kind.ADJUSTMENT,
        bucket=Bucket.AVAILABLE,
        amount_minor=amount_minor,
        currency=currency,
        key=f"adjustment:{uuid.uuid4()}",
        memo=memo,
    )


# --------------------------------------------------------------------- balances


def balances(*, advocate) -> dict:
    """Cash per currency and points, per bucket, as sums of ledger entries."""
    rows = (
        LedgerEntry.objects.filter(advocate=advocate)
        .values("currency", "bucket")
        .annotate(total=Sum("amount_minor"))
        .order_by()
    )
    cash: dict[str, dict[str, int]] = {}
    points = {"pending": 0, "available": 0}
    for row in rows:
        if row["currency"] == POINTS_CURRENCY:
            if row["bucket"] in points:
                points[row["bucket"]] = row["total"]
            continue
        buckets = cash.setdefault(row["currency"], {"pending": 0, "available": 0, "paid": 0})
        buckets[row["bucket"]] = row["total"]
    return {"cash": cash, "points": points}


def available_points(advocate_id: int) -> int:
    """Points the advocate can spend now."""
    return (
        LedgerEntry.objects.filter(
            advocate_id=advocate_id, currency=POINTS_CURRENCY, bucket=Bucket.AVAILABLE
        ).aggregate(total=Sum("amount_minor"))["total"]
        or 0
    )


def available_cash(advocate_id: int) -> dict[str, int]:
    """Cash the advocate could be paid now, per currency."""
    rows = (
        LedgerEntry.objects.filter(advocate_id=advocate_id, bucket=Bucket.AVAILABLE)
        .exclude(currency=POINTS_CURRENCY)
        .values("currency")
        .annotate(total=Sum("amount_minor"))
        .order_by()
    )
    return {r["currency"]: r["total"] for r in rows}


def payable_totals(*, program=None) -> QuerySet:
    """Rows of (advocate_id, currency, total) with positive available cash and a payout account."""
    rows = (
        LedgerEntry.objects.filter(
            bucket=Bucket.AVAILABLE, advocate__payout_account__payouts_enabled=True
        )
        .exclude(currency=POINTS_CURRENCY)
        .values("advocate_id", "currency")
        .annotate(total=Sum("amount_minor"))
        .filter(total__gt=0)
        .order_by("advocate_id")
    )
    return rows.filter(program=program) if program is not None else rows


def with_running_balance(entries: QuerySet) -> QuerySet:
    """Annotate each entry with ``balance``: its bucket's balance after it, in entry order."""
    return entries.annotate(
        balance=Window(
            Sum("amount_minor"),
            partition_by=[F("advocate_id"), F("currency"), F("bucket")],
            order_by=[F("created_at").asc(), F("id").asc()],
        )
    )
