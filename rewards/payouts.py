"""Cash payouts: group available cash, send it through Stripe Connect exactly once.

A payout moves its amount from the advocate's ``available`` bucket to
``in_payout`` when it is created, and on to ``paid`` when Stripe accepts the
transfer — or back to ``available`` when it fails for good. The transfer
carries an idempotency key derived from the payout's id, so a retry after a
crash (even a worker killed mid-call) is the same transfer, never a second.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from celery import shared_task
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Advocate, Program
from core import outbox
from core.errors import ServiceError

from . import events, ledger, notifications, stripe_gateway
from .ledger import Bucket as B
from .models import LedgerEntry, Payout, PayoutAccount, Reward

logger = logging.getLogger(__name__)
STALE_SENDING = timedelta(minutes=10)
SEND_RETRIES = 8


@dataclass
class PayoutRun:
    created: int = 0
    sent: int = 0
    awaiting_approval: int = 0
    failed: int = 0
    payout_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "sent": self.sent,
            "awaiting_approval": self.awaiting_approval,
            "failed": self.failed,
        }


def payout_create(*, advocate_id: int, currency: str) -> Payout | None:
    """Group the advocate's available cash in ``currency`` into one payout, if enough."""
    with transaction.atomic():
        advocate = (
            Advocate.objects.select_for_update().select_related("program").get(pk=advocate_id)
        )
        program = advocate.program
        account = PayoutAccount.objects.filter(advocate=advocate, payouts_enabled=True).first()
        if account is None or not advocate.can_earn:
            return None
        amount = ledger.available_cash(advocate.pk).get(currency, 0)
        if amount <= 0 or amount < program.min_payout_minor:
            return None
        needs_approval = (
            program.payout_approval_above_minor is not None
            and amount > program.payout_approval_above_minor
        )
        try:
            with transaction.atomic():
                payout = Payout.objects.create(
                    program=program,
                    advocate=advocate,
                    amount_minor=amount,
                    currency=currency,
                    stripe_account_id=account.stripe_account_id,
                    status=Payout.Status.AWAITING_APPROVAL
                    if needs_approval
                    else Payout.Status.PENDING,
                )
        except IntegrityError:
            return None  # an open payout already holds this advocate's money
        ledger.payout_move(
            payout=payout,
            kind=LedgerEntry.Kind.PAYOUT,
            source=B.AVAILABLE,
            target=B.IN_PAYOUT,
            step="hold",
            memo=f"Payout {payout.pk}",
        )
        # The payout knows its rewards: the cash rewards whose money it holds.
        Reward.objects.filter(
            advocate=advocate,
            currency=currency,
            kind=Reward.Kind.CASH,
            status=Reward.Status.AVAILABLE,
            payout__isnull=True,
        ).update(payout=payout)
        audit_log(
            action=AuditAction.PAYOUT_CREATED,
            obj=payout,
            program=program,
            data={"amount": amount, "currency": currency, "status": payout.status},
        )
    return payout


def payouts_run(*, program: Program | None = None) -> PayoutRun:
    """Create payouts for everyone above the minimum and send what is pending."""
    run = PayoutRun()
    for row in ledger.payable_totals(program=program):
        payout = payout_create(advocate_id=row["advocate_id"], currency=row["currency"])
        if payout is None:
            continue
        run.created += 1
        if payout.status == Payout.Status.AWAITING_APPROVAL:
            run.awaiting_approval += 1
    ids = payouts_resend(program=program)
    run.failed = Payout.objects.filter(pk__in=ids, status=Payout.Status.FAILED).count()
    run.sent = len(ids) - run.failed
    run.payout_ids = ids
    return run


def payouts_resend(*, program: Program | None = None) -> list[int]:
    """(Re)send pending payouts and those left "sending" by a crash; returns their ids.

    The same idempotency key makes a resend of a payout Stripe already took harmless.
    """
    stale = timezone.now() - STALE_SENDING
    to_send = Payout.objects.filter(
        Q(status=Payout.Status.PENDING) | Q(status=Payout.Status.SENDING, updated_at__lt=stale)
    )
    if program is not None:
        to_send = to_send.filter(program=program)
    ids = list(to_send.order_by("pk").values_list("pk", flat=True))
    for payout_id in ids:
        # A runner outside any transaction (beat, the command): straight to the broker.
        send_payout.delay(payout_id)
    return ids


def payout_approve(*, payout_id: int, actor=None) -> bool:
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None or payout.status != Payout.Status.AWAITING_APPROVAL:
            return False
        payout.status = Payout.Status.PENDING
        payout.approved_at = timezone.now()
        payout.approved_by = actor if getattr(actor, "is_authenticated", False) else None
        payout.updated_at = timezone.now()
        payout.save(update_fields=["status", "approved_at", "approved_by", "updated_at"])
        audit_log(
            action=AuditAction.PAYOUT_APPROVED, obj=payout, program=payout.program, actor=actor
        )
        # After commit: the worker must find the payout approved.
        outbox.enqueue(send_payout, payout.pk)
    return True


def payout_retry(*, payout_id: int, actor=None) -> bool:
    """Send a pending or stuck payout again (same idempotency key: never a second transfer)."""
    payout = Payout.objects.filter(
        pk=payout_id, status__in=[Payout.Status.PENDING, Payout.Status.SENDING]
    ).first()
    if payout is None:
        return False
    audit_log(action=AuditAction.PAYOUT_RETRIED, obj=payout, program=payout.program, actor=actor)
    send_payout.delay(payout.pk)
    return True


class TransientPayoutError(Exception):
    """Stripe could not be reached or asked us to retry: the task retries with backoff."""


def payout_execute(*, payout_id: int) -> str:
    """Send one payout to Stripe. Safe to run twice, concurrently, or after a crash."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None:
            return "missing"
        if payout.status not in (Payout.Status.PENDING, Payout.Status.SENDING):
            return payout.status
        # Record the intent before the network call; a crash leaves "sending",
        # which is retried with the same idempotency key.
        payout.status = Payout.Status.SENDING
        payout.attempts += 1
        payout.updated_at = timezone.now()
        payout.save(update_fields=["status", "attempts", "updated_at"])
    key = payout.stripe_idempotency_key
    try:
        transfer = None
        if payout.attempts > 1:
            # Stripe forgets idempotency keys after 24 hours: look before sending again.
            transfer = stripe_gateway.transfer_find(transfer_group=key)
        if transfer is None:
            transfer = stripe_gateway.transfer_create(
                amount_minor=payout.amount_minor,
                currency=payout.currency,
                destination=payout.stripe_account_id,
                idempotency_key=key,
                metadata={"payout_id": str(payout.pk), "advocate_id": str(payout.advocate_id)},
            )
    except stripe_gateway.TRANSIENT_ERRORS as exc:
        logger.warning("payout %s: transient Stripe error: %s", payout.pk, exc)
        raise TransientPayoutError(str(exc)) from exc
    except stripe_gateway.stripe.StripeError as exc:
        payout_fail(payout_id=payout.pk, reason=_reason(exc))
        return Payout.Status.FAILED
    except ServiceError as exc:  # Stripe switched off
        payout_fail(payout_id=payout.pk, reason=exc.message)
        return Payout.Status.FAILED
    return payout_mark_paid(payout_id=payout.pk, transfer_id=transfer.id)


def _reason(exc) -> str:
    code = getattr(exc, "code", None)
    message = getattr(exc, "user_message", None) or str(exc)
    return f"{code}: {message}"[:300] if code else message[:300]


def payout_mark_paid(*, payout_id: int, transfer_id: str) -> str:
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status == Payout.Status.PAID:
            return payout.status
        if payout.status not in (Payout.Status.SENDING, Payout.Status.PENDING):
            # Failed meanwhile but Stripe did transfer: needs a human, never silently.
            logger.error(
                "payout %s is %s but transfer %s exists", payout.pk, payout.status, transfer_id
            )
            audit_log(
                action=AuditAction.PAYOUT_TRANSFER_AFTER_CLOSE,
                obj=payout,
                program=payout.program,
                data={"transfer": transfer_id, "status": payout.status},
            )
            return payout.status
        payout.status = Payout.Status.PAID
        payout.stripe_transfer_id = transfer_id
        payout.sent_at = payout.updated_at = timezone.now()
        payout.save(update_fields=["status", "stripe_transfer_id", "sent_at", "updated_at"])
        ledger.payout_move(
            payout=payout,
            kind=LedgerEntry.Kind.PAYOUT,
            source=B.IN_PAYOUT,
            target=B.PAID,
            step="paid",
            memo=f"Payout {payout.pk} sent ({transfer_id})",
        )
        Reward.objects.filter(payout=payout, status=Reward.Status.AVAILABLE).update(
            status=Reward.Status.PAID
        )
        audit_log(
            action=AuditAction.PAYOUT_PAID,
            obj=payout,
            program=payout.program,
            data={"transfer": transfer_id},
        )
        events.payout_paid.send(sender=Payout, payout=payout)
        outbox.enqueue(notifications.notify_advocate, "payout_sent", payout.pk)
    return Payout.Status.PAID


def payout_fail(*, payout_id: int, reason: str) -> bool:
    """A permanent failure: mark it failed and return the money to the available balance."""
    return _return_money(
        payout_id=payout_id,
        reason=reason,
        only_from=Payout.OPEN,
        status=Payout.Status.FAILED,
        source=B.IN_PAYOUT,
        memo=f"Payout failed: {reason}",
    )


def payout_reversed(*, payout_id: int, reason: str) -> bool:
    """Stripe reversed a paid transfer: the money is back on the available balance."""
    return _return_money(
        payout_id=payout_id,
        reason=reason,
        only_from=(Payout.Status.PAID,),
        status=Payout.Status.REVERSED,
        source=B.PAID,
        memo=f"Transfer reversed: {reason}",
    )


def _return_money(
    *, payout_id: int, reason: str, only_from, status: str, source: str, memo: str
) -> bool:
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status not in only_from:
            return False
        payout.status = status
        payout.failure_reason = reason[:300]
        payout.updated_at = timezone.now()
        payout.save(update_fields=["status", "failure_reason", "updated_at"])
        ledger.payout_move(
            payout=payout,
            kind=LedgerEntry.Kind.PAYOUT_RETURNED,
            source=source,
            target=B.AVAILABLE,
            step=status,
            memo=memo[:200],
        )
        # Its rewards are available again, for the next payout to take.
        Reward.objects.filter(
            payout=payout, status__in=[Reward.Status.AVAILABLE, Reward.Status.PAID]
        ).update(payout=None, status=Reward.Status.AVAILABLE)
        audit_log(
            action=AuditAction(f"payout.{status}"),
            obj=payout,
            program=payout.program,
            data={"reason": reason},
        )
    return True


def payout_account_onboarding_url(*, advocate: Advocate, refresh_url: str, return_url: str) -> str:
    """Stripe's hosted onboarding for the advocate's Express account (created on first use)."""
    account = PayoutAccount.objects.filter(advocate=advocate).first()
    if account is None:
        account_id = stripe_gateway.express_account_create(email=advocate.email)
        try:
            with transaction.atomic():
                account = PayoutAccount.objects.create(
                    advocate=advocate, stripe_account_id=account_id
                )
                audit_log(
                    action=AuditAction.PAYOUT_ACCOUNT_CREATED, obj=account, program=advocate.program
                )
        except IntegrityError:
            # A double click created a second Stripe account; the first one stays ours.
            account = PayoutAccount.objects.get(advocate=advocate)
    return stripe_gateway.onboarding_link(
        account_id=account.stripe_account_id, refresh_url=refresh_url, return_url=return_url
    )


def payout_account_refresh(*, account: PayoutAccount) -> str:
    """Copy the account's current state from Stripe (never from a webhook payload)."""
    fresh = stripe_gateway.account_retrieve(account.stripe_account_id)
    account.payouts_enabled = bool(fresh.payouts_enabled)
    account.details_submitted = bool(fresh.details_submitted)
    account.updated_at = timezone.now()
    account.save(update_fields=["payouts_enabled", "details_submitted", "updated_at"])
    return f"payouts_enabled={account.payouts_enabled}"


@shared_task(
    bind=True,
    name="rewards.tasks.send_payout",
    acks_late=True,
    autoretry_for=(OperationalError,),
    max_retries=SEND_RETRIES,
    time_limit=120,
    soft_time_limit=100,
)
def send_payout(self, payout_id: int) -> str:
    """Send one payout; transient Stripe errors retry with backoff, then wait for the next run.

    A payout left "sending" is resent by ``payouts_run`` under the same idempotency key.
    """
    try:
        return payout_execute(payout_id=payout_id)
    except TransientPayoutError as exc:
        if self.request.retries >= SEND_RETRIES:
            logger.warning("payout %s: still failing (%s); the next run resends it", payout_id, exc)
            return Payout.Status.SENDING
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 1800)) from exc
