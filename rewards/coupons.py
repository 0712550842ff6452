"""Coupon codes: from a manager's pool (CSV import), from Stripe, or the advocate's own code.

A Stripe promotion code is a network call, so it is never made while the
reward is being issued (inside the transaction, under the advocate's lock):
the reward is created pending, and after commit ``issue_coupon_code`` asks
Stripe with an idempotency key derived from the reward, then records the
code. A transient Stripe failure is retried, and a beat sweep picks up what
the retries could not finish: the friend never loses the coupon.
"""

import csv
import io
import logging
from dataclasses import dataclass
from datetime import timedelta

from celery import shared_task
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Advocate
from core import outbox
from core.errors import ServiceError

from . import stripe_gateway
from .models import CouponCode, CouponPool, Reward, RewardRule
from .services import reward_reverse

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 5 * 1024 * 1024
CODE_RETRIES = 5


class CouponUnavailable(Exception):
    """No code can be given for this rule now; the message is the reason."""


@dataclass
class Claimed:
    code: str
    pool_code: CouponCode | None = None
    from_stripe: bool = False


def coupon_claim(*, rule: RewardRule, advocate: Advocate) -> Claimed:
    """Take a code for a coupon reward; call inside the reward's transaction."""
    if rule.stripe_promotion_codes:
        if not stripe_gateway.enabled():
            raise CouponUnavailable("Stripe promotion codes need STRIPE_API_KEY")
        return Claimed(code="", from_stripe=True)
    if rule.coupon_pool_id is None:
        # No pool: the friend uses the advocate's personal code at the shop,
        # which also attributes the purchase to the advocate.
        if not advocate.coupon_code:
            raise CouponUnavailable("the advocate has no personal coupon code")
        return Claimed(code=advocate.coupon_code)
    # SKIP LOCKED: concurrent claims take different codes instead of waiting.
    code = (
        CouponCode.objects.select_for_update(skip_locked=True)
        .filter(pool_id=rule.coupon_pool_id, assigned_at__isnull=True)
        .order_by("pk")
        .first()
    )
    if code is None:
        raise CouponUnavailable(f"coupon pool {rule.coupon_pool} has no codes left")
    return Claimed(code=code.code, pool_code=code)


def coupon_assign(*, claimed: Claimed, reward: Reward) -> None:
    """Tie the claimed code to its reward (or ask Stripe for one after commit)."""
    if claimed.from_stripe:
        outbox.enqueue(issue_coupon_code, reward.pk)
        return
    if claimed.pool_code is None:
        return
    updated = CouponCode.objects.filter(pk=claimed.pool_code.pk, assigned_at__isnull=True).update(
        assigned_at=timezone.now(), reward=reward
    )
    if updated != 1:  # pragma: no cover - guarded by the row lock
        raise IntegrityError("coupon code was handed out twice")


@transaction.atomic
def coupon_pool_import(*, pool: CouponPool, data: bytes, actor=None) -> dict:
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
    counts = {"added": len(new), "duplicates": len(existing), "invalid": invalid}
    audit_log(
        action=AuditAction.COUPON_POOL_IMPORTED,
        obj=pool,
        program=pool.program,
        actor=actor,
        data=counts,
    )
    return counts


def reward_coupon_code_issue(*, reward_id: int) -> str:
    """Fetch a Stripe promotion code for a pending coupon reward and record it. Safe to repeat.

    Raises Stripe's transient errors for the caller to retry; a permanent refusal
    voids the reward with the reason.
    """
    reward = Reward.objects.select_related("rule", "advocate__program").filter(pk=reward_id).first()
    if reward is None or reward.kind != Reward.Kind.COUPON:
        return "missing"
    if reward.status != Reward.Status.PENDING or reward.coupon_code:
        return "done"
    rule = reward.rule
    try:
        if not rule.stripe_coupon_id:
            coupon_id = stripe_gateway.coupon_create(
                percent_off=rule.coupon_percent_off,
                name=rule.name,
                idempotency_key=f"advocacy-rule-{rule.pk}-coupon",
            )
            RewardRule.objects.filter(pk=rule.pk, stripe_coupon_id="").update(
                stripe_coupon_id=coupon_id
            )
            rule.refresh_from_db(fields=["stripe_coupon_id"])
        code = stripe_gateway.promotion_code_create(
            coupon_id=rule.stripe_coupon_id,
            metadata={"advocate_id": str(reward.advocate_id), "program": reward.program.slug},
            idempotency_key=f"advocacy-{reward.idempotency_key}",
        )
    except stripe_gateway.TRANSIENT_ERRORS:
        raise
    except (stripe_gateway.stripe.StripeError, stripe_gateway.StripeDisabled) as exc:
        reason = f"Stripe could not create a promotion code: {_message(exc)}"
        with transaction.atomic():
            locked = Reward.objects.select_for_update().get(pk=reward.pk)
            if locked.status == Reward.Status.PENDING and not locked.coupon_code:
                reward_reverse(reward=locked, amount_minor=0, reason=reason)
        logger.warning("reward %s: %s", reward.pk, reason)
        return "failed"
    with transaction.atomic():
        locked = Reward.objects.select_for_update().get(pk=reward.pk)
        if locked.status != Reward.Status.PENDING or locked.coupon_code:
            return "done"
        locked.coupon_code = code
        locked.status = Reward.Status.ISSUED
        locked.save(update_fields=["coupon_code", "status"])
        audit_log(
            action=AuditAction.REWARD_CODE_ISSUED,
            obj=locked,
            program=locked.program,
            data={"code": code},
        )
    return "issued"


def _message(exc) -> str:
    return getattr(exc, "user_message", None) or getattr(exc, "message", None) or str(exc)


@shared_task(
    bind=True,
    name="rewards.tasks.issue_coupon_code",
    acks_late=True,
    autoretry_for=(OperationalError,),
    max_retries=CODE_RETRIES,
    time_limit=120,
    soft_time_limit=100,
)
def issue_coupon_code(self, reward_id: int) -> str:
    """Fetch the reward's Stripe code; transient failures retry, then wait for the sweep."""
    try:
        return reward_coupon_code_issue(reward_id=reward_id)
    except stripe_gateway.TRANSIENT_ERRORS as exc:
        if self.request.retries >= CODE_RETRIES:
            logger.warning(
                "reward %s: Stripe still failing (%s); the sweep retries", reward_id, exc
            )
            return "deferred"
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc


def coupon_reward_ids_waiting(*, older_than_seconds: int = 120) -> list[int]:
    """Coupon rewards still waiting for their Stripe code (their task was lost or gave up)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Reward.objects.filter(
            kind=Reward.Kind.COUPON,
            status=Reward.Status.PENDING,
            coupon_code="",
            created_at__lt=cutoff,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )
