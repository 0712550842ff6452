import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from advocacy.emails import advocate_email_send
from advocacy.models import Notification
from referrals.stripe_events import NotReadyYet

from . import payouts, services, stripe_gateway
from .models import Payout, Reward

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=10, max_retries=5)
def mature_reward(reward_id: int) -> bool:
    return services.reward_mature(reward_id=reward_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=10, max_retries=3)
def mature_rewards() -> int:
    """Beat task: make every reward whose hold period is over available."""
    return sum(services.reward_mature(reward_id=pk) for pk in services.reward_ids_due())


@shared_task(
    acks_late=True,
    autoretry_for=(payouts.TransientPayoutError, OperationalError),
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=8,
    time_limit=120,
    soft_time_limit=100,
)
def send_payout(payout_id: int) -> str:
    """Send one payout; after the last retry it stays "sending" and beat resends it."""
    return payouts.payout_execute(payout_id=payout_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=30, max_retries=3)
def run_payouts(program_id: int | None = None) -> dict:
    """Beat task: group available cash into payouts and send them."""
    from advocacy.models import Program

    program = Program.objects.filter(pk=program_id).first() if program_id else None
    return payouts.payouts_run(program=program).as_dict()


NOTIFICATIONS = {
    "reward_available": (Reward, "emails/reward_available"),
    "payout_sent": (Payout, "emails/payout_sent"),
}


@shared_task(
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def notify_advocate(kind: str, object_id: int) -> str:
    """Email an advocate about a reward or payout, at most once per object."""
    model, template = NOTIFICATIONS[kind]
    obj = model.objects.select_related("advocate", "program").filter(pk=object_id).first()
    if obj is None:
        return "missing"
    advocate = obj.advocate
    key = f"{kind}:{object_id}"
    try:
        with transaction.atomic():
            Notification.objects.get_or_create(advocate=advocate, kind=kind, key=key)
    except IntegrityError:
        pass
    with transaction.atomic():
        # The row lock keeps a duplicate task from sending the same email.
        note = Notification.objects.select_for_update().get(key=key)
        if note.sent_at is not None:
            return "already-sent"
        from privacy.services import may_email

        if not may_email(advocate, kind):
            return "opted-out"
        from advocacy.money import to_decimal_string

        advocate_email_send(
            advocate=advocate,
            template=template,
            context={
                "program": obj.program,
                "obj": obj,
                "amount": to_decimal_string(obj.amount_minor, obj.currency)
                if obj.currency != "PTS"
                else obj.amount_minor,
                "currency": obj.currency,
                "portal_url": settings.SITE_URL + "/",
            },
        )
        note.sent_at = timezone.now()
        note.save(update_fields=["sent_at"])
    return "sent"


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, NotReadyYet, *stripe_gateway.TRANSIENT_ERRORS),
    retry_backoff=30,
    max_retries=8,
)
def process_stripe_event(event_id: str) -> str:
    from .webhooks import stripe_event_process

    return stripe_event_process(event_id=event_id)


@shared_task(acks_late=True)
def process_pending_stripe_events() -> int:
    """Beat task: process events whose task was lost or kept failing."""
    from .webhooks import _enqueue, stripe_events_pending

    ids = stripe_events_pending()
    for event_id in ids:
        _enqueue(event_id)
    return len(ids)
