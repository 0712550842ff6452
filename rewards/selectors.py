"""Reads of balances and reward history."""

from django.db.models import Sum

from .models import LedgerEntry


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
        if row["currency"] == "PTS":
            if row["bucket"] in points:
                points[row["bucket"]] = row["total"]
            continue
        buckets = cash.setdefault(row["currency"], {"pending": 0, "available": 0, "paid": 0})
        buckets[row["bucket"]] = row["total"]
    return {"cash": cash, "points": points}
