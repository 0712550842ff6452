"""What a purchase sets off in nurture, done by a worker after the purchase commits.

A referred purchase moves the advocate's badges, tier and "your friend bought"
email. None of it changes the order's answer or its rewards, so the conversion
API writes one outbox message for all of it (see ``receivers``) and a worker
does the rest: the merchant's request does not wait for it. Each part is safe
to run twice (badges and emails are unique per key, the tier is recomputed from
the facts), so a redelivered task changes nothing.
"""

from celery import shared_task
from django.db import OperationalError, transaction

from referrals.models import Conversion

from . import badges
from .emails import email_queue, engagement_emails_on, friend_label
from .tiers import standing_recompute


@shared_task(
    name="nurture.tasks.conversion_followups",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=5,
)
def conversion_followups(conversion_id: int, tiers: bool = True) -> bool:
    """Badges, the tier move and the friend-activity email of an attributed purchase."""
    conversion = (
        Conversion.objects.select_related("advocate__program", "referral")
        .filter(pk=conversion_id, attributed=True, advocate__isnull=False)
        .first()
    )
    if conversion is None:
        return False
    advocate = conversion.advocate
    with transaction.atomic():
        badges.referral_badges_check(advocate=advocate)
        if conversion.referral_id and engagement_emails_on(advocate.program_id):
            email_queue(
                advocate=advocate,
                template="friend_activity",
                key=f"friend:{conversion.referral_id}:purchase",  # the first purchase only
                params={"event": "purchase", "friend": friend_label(conversion.referral)},
            )
    if tiers:
        standing_recompute(advocate=advocate)
    return True
