"""Writes for rewards and the ledger. Every balance change is an appended entry."""

import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from advocacy.audit import audit_log
from integrations import events
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
    program,
    advocate,
    key: str,
    reason: str,
    kind: str = Reward.Kind.CASH,
    amount_minor: int = 0,
    currency: str = "",
    recipient: str = Reward.Recipient.ADVOCATE,
    rule=None,
    referral=None,
    conversion: Conversion | None = None,
    hold_days: int | None = None,
    requires_approval: bool = False,
    coupon_code: str = "",
    coupon_percent_off: int = 0,
    perk_description: str = "",
) -> Reward:
    """Create a reward once per ``key``; cash and points are credited as pending."""
    existing = Reward.objects.filter(idempotency_key=key).first()
    if existing:
        return existing
    now = timezone.now()
    hold_days = program.hold_days if hold_days is None else hold_days
    status = Reward.Status.PENDING
    if kind == Reward.Kind.COUPON:
        status = Reward.Status.ISSUED
    reward = Reward.objects.create(
        program=program,
        advocate=advocate,
        conversion=conversion,
        referral=referral if referral is not None else getattr(conversion, "referral", None),
        rule=rule,
        recipient=recipient,
        kind=kind,
        amount_minor=amount_minor,
        currency=currency,
        reason=reason[:200],
        idempotency_key=key,
        status=status,
        available_at=now + timedelta(days=hold_days),
        created_at=now,
        requires_approval=requires_approval,
        coupon_code=coupon_code,
        coupon_percent_off=coupon_percent_off,
        perk_description=perk_description,
    )
    if kind in Reward.BALANCE_KINDS:
        _append(
            reward=reward,
            kind=K.REWARD_ISSUED,
            bucket=B.PENDING,
            amount_minor=amount_minor,
            key=f"reward:{reward.pk}:issued",
            memo=reason,
        )
        if hold_days == 0 and not requires_approval:
            transaction.on_commit(lambda: _mature_after_commit(reward.pk))
    audit_log(
        action="reward.issued",
        obj=reward,
        program=program,
        data={"kind": kind, "amount": amount_minor, "currency": currency, "recipient": recipient},
    )
    events.reward_changed(reward, "reward.issued")
    return reward


def _mature_after_commit(reward_id: int) -> None:
    from .tasks import mature_reward

    mature_reward.delay(reward_id)


def rewards_for_signup(*, referral) -> list[Reward]:
    """Apply the program's sign-up rules (e.g. the friend's coupon) to a new referral."""
    from .rules import SIGNUP, Event, rules_apply

    if referral.status == referral.Status.REJECTED:
        return []
    return rules_apply(
        Event(kind=SIGNUP, program=referral.program, advocate=referral.advocate, referral=referral)
    )


def rewards_for_purchase(*, conversion: Conversion) -> list[Reward]:
    """Apply the program's purchase rules to an attributed conversion."""
    from .rules import PURCHASE, Event, rules_apply

    if not conversion.attributed:
        return []
    return rules_apply(
        Event(
            kind=PURCHASE,
            program=conversion.program,
            advocate=conversion.advocate,
            referral=conversion.referral,
            conversion=conversion,
        )
    )


def reward_approve(*, reward_id: int, actor=None) -> bool:
    """A manager approves a reward above the rule's threshold. Safe to repeat."""
    with transaction.atomic():
        reward = Reward.objects.select_for_update().filter(pk=reward_id).first()
        if reward is None or not reward.requires_approval or reward.approved_at is not None:
            return False
        reward.approved_at = timezone.now()
        reward.approved_by = actor if getattr(actor, "is_authenticated", False) else None
        reward.save(update_fields=["approved_at", "approved_by"])
        audit_log(action="reward.approved", obj=reward, program=reward.program, actor=actor)
    return True


def reward_fulfil(*, reward_id: int, actor=None) -> bool:
    """A manager marks a perk as delivered."""
    with transaction.atomic():
        reward = Reward.objects.select_for_update().filter(pk=reward_id).first()
        if reward is None or reward.kind != Reward.Kind.PERK:
            return False
        if reward.status != Reward.Status.PENDING:
            return False
        reward.status = Reward.Status.FULFILLED
        reward.save(update_fields=["status"])
        audit_log(action="reward.fulfilled", obj=reward, program=reward.program, actor=actor)
    return True


def reward_mature(*, reward_id: int, now=None) -> bool:
    """Move a pending reward whose hold period is over to available. Safe to repeat."""
    now = now or timezone.now()
    with transaction.atomic():
        reward = Reward.objects.select_for_update().filter(pk=reward_id).first()
        if (
            reward is None
            or reward.kind not in Reward.BALANCE_KINDS
            or reward.status != Reward.Status.PENDING
            or reward.available_at > now
            or (reward.requires_approval and reward.approved_at is None)
        ):
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
        if remaining > 0:
            _notify_after_commit(reward.pk)
    return True


def _notify_after_commit(reward_id: int) -> None:
    from .tasks import notify_advocate

    transaction.on_commit(lambda: notify_advocate.delay("reward_available", reward_id))


def reward_ids_due(*, now=None) -> list[int]:
    now = now or timezone.now()
    return list(
        Reward.objects.filter(
            status=Reward.Status.PENDING, kind__in=Reward.BALANCE_KINDS, available_at__lte=now
        )
        .exclude(requires_approval=True, approved_at__isnull=True)
        .order_by("available_at")
        .values_list("pk", flat=True)[:1000]
    )


def reward_reverse(*, reward: Reward, amount_minor: int, reason: str) -> None:
    """Reverse part or all of a reward; call with the reward row locked."""
    if reward.kind not in Reward.BALANCE_KINDS:
        # A coupon or perk has no balance: it is voided, with an audit row.
        if reward.status not in (Reward.Status.REVERSED, Reward.Status.FULFILLED):
            reward.status = Reward.Status.REVERSED
            reward.save(update_fields=["status"])
            audit_log(
                action="reward.reversed",
                obj=reward,
                program=reward.program,
                data={"reason": reason},
            )
            events.reward_changed(reward, "reward.reversed")
        return
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
    events.reward_changed(reward, "reward.reversed")


def rewards_reverse_for_refund(*, conversion: Conversion) -> None:
    """Reverse each reward of the conversion in proportion to what was refunded."""
    rewards = Reward.objects.select_for_update().filter(conversion=conversion).order_by("pk")
    fully = conversion.refunded_minor >= conversion.amount_minor
    for reward in rewards:
        if reward.kind not in Reward.BALANCE_KINDS and not fully:
            continue  # a coupon or perk is voided by a full refund only
        if fully:
            target = reward.amount_minor
        else:
            target = reward.amount_minor * conversion.refunded_minor // conversion.amount_minor
        reward_reverse(
            reward=reward,
            amount_minor=target - reward.reversed_minor,
            reason=f"Refund of order {conversion.order_id}",
        )


def ledger_adjust(*, advocate, amount_minor: int, currency: str, reason: str, actor) -> LedgerEntry:
    """A manager's correction: one entry on the available balance, with reason and audit row."""
    from advocacy.errors import ServiceError

    if amount_minor == 0:
        raise ServiceError("invalid_amount", "An adjustment needs a non-zero amount.")
    if not reason.strip():
        raise ServiceError("reason_required", "Say why the balance is adjusted.")
    with transaction.atomic():
        entry = LedgerEntry.objects.create(
            program_id=advocate.program_id,
            advocate=advocate,
            kind=K.ADJUSTMENT,
            bucket=B.AVAILABLE,
            amount_minor=amount_minor,
            currency=currency,
            idempotency_key=f"adjustment:{uuid.uuid4()}",
            memo=reason.strip()[:200],
        )
        audit_log(
            action="ledger.adjusted",
            obj=entry,
            program=advocate.program,
            actor=actor,
            data={"amount": amount_minor, "currency": currency, "reason": reason.strip()},
        )
    return entry
