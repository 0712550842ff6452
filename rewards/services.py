"""Writes for rewards: issue, mature, approve, fulfil, reverse, adjust.

Every balance change goes through ``rewards.ledger``.
"""

from datetime import timedelta

from celery import shared_task
from django.db import OperationalError, transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Program
from advocacy.services import program_create
from core import outbox
from core.errors import ServiceError, Unprocessable
from referrals.models import Conversion

from . import events, ledger, notifications
from .ledger import Bucket as B
from .ledger import Kind as K
from .models import CatalogItem, CouponPool, LedgerEntry, Reward, RewardRule


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
    awaiting_code: bool = False,
    checked_new: bool = False,
) -> Reward:
    """Create a reward once per ``key``; cash and points are credited as pending.

    A coupon whose code comes from Stripe stays pending (``awaiting_code``) until
    ``rewards.coupons`` fetches the code after commit. ``checked_new``: the caller
    has just looked the key up under the advocate's lock (the unique key stays the
    guarantee).
    """
    existing = None if checked_new else Reward.objects.filter(idempotency_key=key).first()
    if existing:
        return existing
    now = timezone.now()
    hold_days = program.hold_days if hold_days is None else hold_days
    status = Reward.Status.PENDING
    if kind == Reward.Kind.COUPON and not awaiting_code:
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
        ledger.reward_append(
            reward=reward,
            kind=K.REWARD_ISSUED,
            bucket=B.PENDING,
            amount_minor=amount_minor,
            key=f"reward:{reward.pk}:issued",
            memo=reason,
        )
        if hold_days == 0 and not requires_approval:
            outbox.enqueue(mature_reward, reward.pk)
    audit_log(
        action=AuditAction.REWARD_ISSUED,
        obj=reward,
        program=program,
        data={"kind": kind, "amount": amount_minor, "currency": currency, "recipient": recipient},
    )
    events.reward_issued.send(sender=Reward, reward=reward)
    return reward


@shared_task(
    name="rewards.tasks.mature_reward",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=5,
)
def mature_reward(reward_id: int) -> bool:
    return reward_mature(reward_id=reward_id)


def reward_approve(*, reward_id: int, actor=None) -> bool:
    """A manager approves a reward above the rule's threshold. Safe to repeat."""
    with transaction.atomic():
        reward = Reward.objects.select_for_update().filter(pk=reward_id).first()
        if reward is None or not reward.requires_approval or reward.approved_at is not None:
            return False
        reward.approved_at = timezone.now()
        reward.approved_by = actor if getattr(actor, "is_authenticated", False) else None
        reward.save(update_fields=["approved_at", "approved_by"])
        audit_log(
            action=AuditAction.REWARD_APPROVED, obj=reward, program=reward.program, actor=actor
        )
    return True


def reward_hold(*, reward_id: int, reason: str, issued: Reward | None = None) -> bool:
    """Keep a pending reward from maturing until a manager approves it. Safe to repeat.

    ``issued``: the reward itself, when the caller's transaction issued it (the fraud
    rules, on the order being recorded): one conditional UPDATE holds it (the row's
    lock and the conditions in one statement) and the audit row takes its program.
    Otherwise the reward is read after the UPDATE, for the audit row. Inside a
    transaction it takes no savepoint: nothing here is caught, an error fails the
    caller's transaction."""
    with transaction.atomic(savepoint=False):
        # One conditional UPDATE holds it: the row's lock and the conditions at once.
        held = Reward.objects.filter(
            pk=reward_id,
            status=Reward.Status.PENDING,
            approved_at__isnull=True,
            requires_approval=False,
        ).update(requires_approval=True)
        if not held:
            return False
        reward = issued or Reward.objects.select_related("program").get(pk=reward_id)
        audit_log(
            action=AuditAction.REWARD_HELD,
            obj=reward,
            program=reward.program,
            data={"reason": reason[:200]},
        )
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
        audit_log(
            action=AuditAction.REWARD_FULFILLED, obj=reward, program=reward.program, actor=actor
        )
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
            ledger.reward_append(
                reward=reward,
                kind=K.REWARD_MATURED,
                bucket=B.PENDING,
                amount_minor=-remaining,
                key=f"reward:{reward.pk}:matured:pending",
            )
            ledger.reward_append(
                reward=reward,
                kind=K.REWARD_MATURED,
                bucket=B.AVAILABLE,
                amount_minor=remaining,
                key=f"reward:{reward.pk}:matured:available",
            )
        reward.status = Reward.Status.AVAILABLE
        reward.save(update_fields=["status"])
        audit_log(action=AuditAction.REWARD_MATURED, obj=reward, program=reward.program)
        if remaining > 0:
            outbox.enqueue(notifications.notify_advocate, "reward_available", reward.pk)
    return True


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


def reward_reverse(*, reward: Reward, amount_minor: int, reason: str, actor=None) -> None:
    """Reverse part or all of a reward; call with the reward row locked."""
    if reward.kind not in Reward.BALANCE_KINDS:
        # A coupon or perk has no balance: it is voided, with an audit row.
        if reward.status not in (Reward.Status.REVERSED, Reward.Status.FULFILLED):
            reward.status = Reward.Status.REVERSED
            reward.save(update_fields=["status"])
            audit_log(
                action=AuditAction.REWARD_REVERSED,
                obj=reward,
                program=reward.program,
                actor=actor,
                data={"reason": reason},
            )
            events.reward_reversed.send(sender=Reward, reward=reward)
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
    ledger.reward_append(
        reward=reward, kind=kind, bucket=bucket, amount_minor=-amount_minor, key=key, memo=reason
    )
    fields = ["reversed_minor"]
    if reward.reversed_minor == reward.amount_minor and reward.status != Reward.Status.REVERSED:
        reward.status = Reward.Status.REVERSED
        fields.append("status")
    reward.save(update_fields=fields)
    audit_log(
        action=AuditAction.REWARD_REVERSED,
        obj=reward,
        program=reward.program,
        actor=actor,
        data={"amount": amount_minor, "reason": reason},
    )
    events.reward_reversed.send(sender=Reward, reward=reward)


def rewards_reverse_all(*, conversion: Conversion, reason: str, actor=None) -> None:
    """Reverse every reward of a conversion in full (it turned out not to count)."""
    for reward in Reward.objects.select_for_update().filter(conversion=conversion).order_by("pk"):
        reward_reverse(reward=reward, amount_minor=reward.amount_minor, reason=reason, actor=actor)


def reward_void(*, reward_id: int, reason: str, actor=None, only_awaiting: bool = False) -> bool:
    """A manager voids a reward with a reason (a paid one is clawed back). Safe to repeat.

    ``only_awaiting``: a rejection, which voids only a reward still awaiting approval.
    """
    if not reason.strip():
        raise ServiceError("reason_required", "Say why the reward is voided.")
    with transaction.atomic():
        reward = Reward.objects.select_for_update().filter(pk=reward_id).first()
        if reward is None or reward.status == Reward.Status.REVERSED:
            return False
        if only_awaiting and not (reward.requires_approval and reward.approved_at is None):
            return False
        reward_reverse(
            reward=reward, amount_minor=reward.remaining_minor, reason=reason.strip(), actor=actor
        )
    return True


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
    if amount_minor == 0:
        raise ServiceError("invalid_amount", "An adjustment needs a non-zero amount.")
    if not reason.strip():
        raise ServiceError("reason_required", "Say why the balance is adjusted.")
    with transaction.atomic():
        entry = ledger.adjustment_append(
            advocate=advocate, amount_minor=amount_minor, currency=currency, memo=reason.strip()
        )
        audit_log(
            action=AuditAction.LEDGER_ADJUSTED,
            obj=entry,
            program=advocate.program,
            actor=actor,
            data={"amount": amount_minor, "currency": currency, "reason": reason.strip()},
        )
    return entry


def offer_rules_create(
    *, program, advocate_reward_minor: int = 0, friend_discount_percent: int = 0
) -> list[RewardRule]:
    """The classic double-sided offer: cash for the advocate, a discount for the friend."""
    if advocate_reward_minor < 0:
        raise Unprocessable("invalid_reward", "The advocate reward cannot be negative.")
    if not 0 <= friend_discount_percent <= 100:
        raise Unprocessable("invalid_discount", "The friend discount is a percentage, 0-100.")
    rules = []
    if advocate_reward_minor:
        rules.append(
            RewardRule.objects.create(
                program=program,
                name="Advocate reward",
                trigger=RewardRule.Trigger.FIRST_PURCHASE,
                recipient=RewardRule.Recipient.ADVOCATE,
                kind=RewardRule.Kind.CASH,
                amount_minor=advocate_reward_minor,
            )
        )
    if friend_discount_percent:
        rules.append(
            RewardRule.objects.create(
                program=program,
                name="Friend discount",
                trigger=RewardRule.Trigger.SIGNUP,
                recipient=RewardRule.Recipient.FRIEND,
                kind=RewardRule.Kind.COUPON,
                coupon_percent_off=friend_discount_percent,
            )
        )
    return rules


@transaction.atomic
def program_create_with_offer(
    *, advocate_reward_minor: int = 0, friend_discount_percent: int = 0, **program_fields
) -> tuple[Program, str, str]:
    """Create a program (with its keys) and its double-sided offer; returns the raw keys."""
    program, secret, publishable = program_create(**program_fields)
    offer_rules_create(
        program=program,
        advocate_reward_minor=advocate_reward_minor,
        friend_discount_percent=friend_discount_percent,
    )
    return program, secret, publishable


def _pool_in_program(obj) -> None:
    pool = getattr(obj, "coupon_pool", None)
    if pool is not None and pool.program_id != obj.program_id:
        # A pool of another program would hand that program's codes out here.
        raise ServiceError(
            "pool_of_another_program",
            "The coupon pool belongs to another program.",
            fields={"coupon_pool": ["Choose a pool of this program."]},
        )


def _perk_in_program(obj) -> None:
    perk = getattr(obj, "perk", None)
    if perk is not None and perk.program_id != obj.program_id:
        raise ServiceError(
            "perk_of_another_program",
            "The perk belongs to another program.",
            fields={"perk": ["Choose a perk of this program."]},
        )


def _config_save(obj, *, created_action, updated_action, actor, changed):
    created = obj._state.adding
    _pool_in_program(obj)
    _perk_in_program(obj)
    with transaction.atomic():
        obj.save()
        audit_log(
            action=created_action if created else updated_action,
            obj=obj,
            program=obj.program,
            actor=actor,
            data={"fields": sorted(changed or [])},
        )
    return obj


def reward_rule_save(*, rule: RewardRule, actor, changed: list[str] | None = None) -> RewardRule:
    """Create or update a reward rule from the admin, with an audit row."""
    return _config_save(
        rule,
        created_action=AuditAction.REWARD_RULE_CREATED,
        updated_action=AuditAction.REWARD_RULE_UPDATED,
        actor=actor,
        changed=changed,
    )


def coupon_pool_save(*, pool: CouponPool, actor, changed: list[str] | None = None) -> CouponPool:
    """Create or update a coupon pool from the admin, with an audit row."""
    return _config_save(
        pool,
        created_action=AuditAction.COUPON_POOL_CREATED,
        updated_action=AuditAction.COUPON_POOL_UPDATED,
        actor=actor,
        changed=changed,
    )


def perk_save(*, perk, actor, changed: list[str] | None = None):
    """Create or update a perk (early access, ...) from the admin, with an audit row."""
    return _config_save(
        perk,
        created_action=AuditAction.PERK_CREATED,
        updated_action=AuditAction.PERK_UPDATED,
        actor=actor,
        changed=changed,
    )


def catalog_item_save(*, item: CatalogItem, actor, changed: list[str] | None = None) -> CatalogItem:
    """Create or update a points-catalog item from the admin, with an audit row."""
    return _config_save(
        item,
        created_action=AuditAction.CATALOG_ITEM_CREATED,
        updated_action=AuditAction.CATALOG_ITEM_UPDATED,
        actor=actor,
        changed=changed,
    )
