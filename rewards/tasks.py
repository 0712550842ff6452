"""Celery tasks of the rewards layer: beat jobs here; one-off tasks beside their services."""

from celery import shared_task
from django.db import OperationalError

from advocacy.models import Program

from . import payouts, services
from .coupons import coupon_reward_ids_waiting, issue_coupon_code
from .notifications import notify_advocate
from .payouts import send_payout
from .services import mature_reward

__all__ = [
    "issue_coupon_code",
    "issue_pending_coupon_codes",
    "mature_reward",
    "mature_rewards",
    "notify_advocate",
    "resend_payouts",
    "run_payouts",
    "send_payout",
]


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=10, max_retries=3)
def mature_rewards() -> int:
    """Beat task: make every reward whose hold period is over available."""
    return sum(services.reward_mature(reward_id=pk) for pk in services.reward_ids_due())


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=30, max_retries=3)
def run_payouts(program_id: int | None = None) -> dict:
    """Beat task: group available cash into payouts and send them."""
    program = Program.objects.filter(pk=program_id).first() if program_id else None
    return payouts.payouts_run(program=program).as_dict()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=30, max_retries=3)
def resend_payouts() -> int:
    """Beat task: send payouts left pending or stuck "sending" (a worker died mid-call)."""
    return len(payouts.payouts_resend())


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3)
def issue_pending_coupon_codes() -> int:
    """Beat task: fetch the Stripe codes that earlier attempts could not."""
    ids = coupon_reward_ids_waiting()
    for pk in ids:
        issue_coupon_code.delay(pk)
    return len(ids)
