"""Writes for rewards and the ledger. Every balance change is an appended entry."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from advocacy.audit import audit_log
from referrals.models import Conversion

from .models import LedgerEntry, Reward

B = LedgerEntry.Bucket
K = LedgerEntry.Kind


def _append(*, reward: Reward, kind: str, bucket: str, amount_minor: int, key: str, memo=""):
    return LedgerEntry.objects.create(
        program_id=reward.program_id,
        advocate_id=reward.advocate_id,
        reward=reward,
        kind=kind,
        bucket=bucket,
        amount_minor=amount_minor,
        currency=reward.currency,
        idempotency_key=key,
        memo=memo[:200],
    )


def reward_issue(
    *,
    conversion: Conversion,
    amount_minor: int,
    currency: str,
    reason: str,
    key: str,
    kind: str = Reward.Kind.CASH,
) -> Reward:
    """Credit a pending reward to the conversion's advocate (once per ``key``)."""
    existing = Reward.objects.filter(idempotency_key=key).first()
    if existing:
        return existing
    program = conversion.program
    now = timezone.now()
    reward = Reward.objects.create(
        program=program,
        advocate_id=conversion.advocate_id,
        conversion=conversion,
        referral_id=conversion.referral_id,
        kind=kind,
        amount_minor=amount_minor,
        currency=currency,
        reason=reason,
        idempotency_key=key,
        available_at=now + timedelta(days=program.hold_days),
    )
    _append(
        reward=reward,
        kind=K.REWARD_ISSUED,
        bucket=B.PENDING,
        amount_minor=amount_minor,
        key=f"reward:{reward.pk}:issued",
        memo=reason,
    )
    audit_log(action="reward.issued", obj=reward, program=program, data={"amount": amount_minor})
    if program.hold_days == 0:
        transaction.on_commit(lambda: _mature_after_commit(reward.pk))
    return reward


def _mature_after_commit(reward_id: int) -> None:
    from .tasks import mature_reward

    mature_reward.delay(reward_id)


def rewards_issue_for_conversion(*, conversion: Conversion) -> list[Reward]:
    """Apply the program's reward for a referred friend's first purchase."""
    program = conversion.program
    if not conversion.attributed or program.advocate_reward_minor <= 0:
        return []
    if conversion.referral_id is not None:
        earlier = (
            Conversion.objects.filter(referral_id=conversion.referral_id, attributed=True)
            .exclude(pk=conversion.pk)
            .exists()
        )
        if earlier:
            return []
    reward = reward_issue(
        conversion=conversion,
        amount_minor=program.advocate_reward_minor,
        currency=program.currency,
        reason=f"Friend's first purchase (order {conversion.order_id})",
        key=f"conversion:{conversion.pk}:advocate:first-purchase",
    )
    return [reward]


def reward_mature(*, reward_id: int, now=None) -> bool:
    """Move a pending reward whose hold period is over to available. Safe to repeat."""
    now = now or timezone.now()
    with transaction.atomic():
        reward = Reward.objects.select_for_update().filter(pk=reward_id).first()
        if reward is None or reward.status != Reward.Status.PENDING or reward.available_at > now:
            return False
        remaining = reward.remaining_minor
        if remaining > 0:
            _append(
                reward=reward,
                kind=K.REWARD_MATURED,
                bucket=B.PENDING,
                amount_minor=-remaining,
                key=f"reward:{reward.pk}:matured:pending",
            )
            _append(
                reward=reward,
                kind=K.REWARD_MATURED,
                bucket=B.AVAILABLE,
                amount_minor=remaining,
                key=f"reward:{reward.pk}:matured:available",
            )
        reward.status = Reward.Status.AVAILABLE
        reward.save(update_fields=["status"])
        audit_log(action="reward.matured", obj=reward, program=reward.program)
    return True


def reward_ids_due(*, now=None) -> list[int]:
    now = now or timezone.now()
    return list(
        Reward.objects.filter(status=Reward.Status.PENDING, available_at__lte=now)
        .order_by("available_at")
        .values_list("pk", flat=True)[:1000]
    )


def reward_reverse(*, reward: Reward, amount_minor: int, reason: str) -> None:
    """Reverse part or all of a reward; call with the reward row locked."""
    amount_minor = min(amount_minor, reward.remaining_minor)
    if amount_minor <= 0:
        return
    reward.reversed_minor += amount_minor
    key = f"reward:{reward.pk}:reversed:{reward.reversed_minor}"
    if reward.status == Reward.Status.PENDING:
        bucket, kind = B.PENDING, K.REWARD_REVERSED
    elif reward.status == Reward.Status.AVAILABLE:
        bucket, kind = B.AVAILABLE, K.REWARD_REVERSED
    else:
        # Paid money cannot be un-paid: the debt is carried on the available
        # balance (it may go negative) and netted against future rewards.
        bucket, kind = B.AVAILABLE, K.CLAWBACK
    _append(
        reward=reward, kind=kind, bucket=bucket, amount_minor=-amount_minor, key=key, memo=reason
    )
    fields = ["reversed_minor"]
    if reward.reversed_minor == reward.amount_minor and reward.status != Reward.Status.REVERSED:
        reward.status = Reward.Status.REVERSED
        fields.append("status")
    reward.save(update_fields=fields)
    audit_log(
        action="reward.reversed",
        obj=reward,
        program=reward.program,
        data={"amount": amount_minor, "reason": reason},
    )


def rewards_reverse_for_refund(*, conversion: Conversion) -> None:
    """Reverse each reward of the conversion in proportion to what was refunded."""
    rewards = Reward.objects.select_for_update().filter(conversion=conversion).order_by("pk")
    for reward in rewards:
        if conversion.refunded_minor >= conversion.amount_minor:
            target = reward.amount_minor
        else:
            target = reward.amount_minor * conversion.refunded_minor // conversion.amount_minor
        reward_reverse(
            reward=reward,
            amount_minor=target - reward.reversed_minor,
            reason=f"Refund of order {conversion.order_id}",
        )
