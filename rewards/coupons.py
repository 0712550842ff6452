"""Coupon codes: from a manager's pool (CSV import), or the advocate's personal code."""

import csv
import io
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from advocacy.errors import ServiceError
from advocacy.models import Advocate

from .models import CouponCode, CouponPool, Reward, RewardRule

MAX_IMPORT_BYTES = 5 * 1024 * 1024


@dataclass
class Claimed:
    code: str
    pool_code: CouponCode | None = None


def coupon_claim(*, rule: RewardRule, advocate: Advocate, key: str) -> Claimed:
    """Take a code for a coupon reward; call inside the reward's transaction."""
    from .rules import Skip

    if rule.stripe_promotion_codes:
        return Claimed(code=_stripe_promotion_code(rule=rule, advocate=advocate, key=key))
    if rule.coupon_pool_id is None:
        # No pool: the friend uses the advocate's personal code at the shop,
        # which also attributes the purchase to the advocate.
        if not advocate.coupon_code:
            raise Skip("the advocate has no personal coupon code")
        return Claimed(code=advocate.coupon_code)
    # SKIP LOCKED: concurrent claims take different codes instead of waiting.
    code = (
        CouponCode.objects.select_for_update(skip_locked=True)
        .filter(pool_id=rule.coupon_pool_id, assigned_at__isnull=True)
        .order_by("pk")
        .first()
    )
    if code is None:
        raise Skip(f"coupon pool {rule.coupon_pool} has no codes left")
    return Claimed(code=code.code, pool_code=code)


def coupon_assign(*, claimed: Claimed, reward: Reward) -> None:
    if claimed.pool_code is None:
        return
    updated = CouponCode.objects.filter(pk=claimed.pool_code.pk, assigned_at__isnull=True).update(
        assigned_at=timezone.now(), reward=reward
    )
    if updated != 1:  # pragma: no cover - guarded by the row lock
        raise IntegrityError("coupon code was handed out twice")


@transaction.atomic
def coupon_pool_import(*, pool: CouponPool, data: bytes) -> dict:
    """Import codes from a CSV file (one code per row, first column; header optional).

    Returns counts: ``{"added", "duplicates", "invalid"}``. Codes already in the
    pool are skipped, so importing the same file twice adds nothing.
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise ServiceError("file_too_large", "The CSV file is larger than 5 MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ServiceError("invalid_csv", "The CSV file is not UTF-8 text.") from exc
    seen: set[str] = set()
    invalid = 0
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0].strip():
            continue
        code = row[0].strip()
        if code.lower() in ("code", "coupon", "coupon_code"):
            continue
        if len(code) > 60 or any(c.isspace() for c in code):
            invalid += 1
            continue
        seen.add(code)
    existing = set(pool.codes.filter(code__in=seen).values_list("code", flat=True))
    new = sorted(seen - existing)
    CouponCode.objects.bulk_create([CouponCode(pool=pool, code=c) for c in new])
    return {"added": len(new), "duplicates": len(existing), "invalid": invalid}


def _stripe_promotion_code(*, rule: RewardRule, advocate: Advocate, key: str) -> str:
    """A single-use Stripe promotion code; retries reuse the reward's idempotency key."""
    from . import stripe_gateway
    from .rules import Skip

    try:
        if not rule.stripe_coupon_id:
            rule.stripe_coupon_id = stripe_gateway.coupon_create(
                percent_off=rule.coupon_percent_off,
                name=rule.name,
                idempotency_key=f"advocacy-rule-{rule.pk}-coupon",
            )
            RewardRule.objects.filter(pk=rule.pk).update(stripe_coupon_id=rule.stripe_coupon_id)
        return stripe_gateway.promotion_code_create(
            coupon_id=rule.stripe_coupon_id,
            metadata={"advocate_id": str(advocate.pk), "program": advocate.program.slug},
            idempotency_key=f"advocacy-{key}",
        )
    except stripe_gateway.StripeDisabled as exc:
        raise Skip("Stripe promotion codes need STRIPE_API_KEY") from exc
    except stripe_gateway.stripe.StripeError as exc:
        raise Skip(f"Stripe could not create a promotion code: {exc.user_message or exc}") from exc
