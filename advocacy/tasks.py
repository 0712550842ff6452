import logging
import smtplib
from urllib.parse import urlencode

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from .emails import advocate_email_send
from .models import Advocate

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def send_invitation(self, advocate_id: int) -> str:
    """Email an advocate their invitation; a second run after success sends nothing."""
    with transaction.atomic():
        # The row lock keeps two workers from both sending the same invitation.
        advocate = (
            Advocate.objects.select_for_update()
            .select_related("program")
            .filter(pk=advocate_id)
            .first()
        )
        if advocate is None:
            return "missing"
        if advocate.invitation_sent_at is not None:
            return "already-sent"
        if advocate.status not in (Advocate.Status.INVITED, Advocate.Status.ACTIVE):
            return "skipped"
        from privacy.services import may_email

        if not may_email(advocate, "invitation"):
            return "unsubscribed"
        from .services import advocate_primary_link, referral_url

        link = advocate_primary_link(advocate)
        join_url = (
            settings.SITE_URL
            + reverse("portal:join", args=[advocate.program.slug])
            + "?"
            + urlencode({"email": advocate.email})
        )
        # Sent inside the lock and marked in the same transaction: a crash between
        # the two may send the email again (at least once), never silently drop it.
        advocate_email_send(
            advocate=advocate,
            template="emails/invitation",
            context={
                "program": advocate.program,
                "join_url": join_url,
                "referral_url": referral_url(link.code),
            },
        )
        advocate.invitation_sent_at = timezone.now()
        advocate.save(update_fields=["invitation_sent_at"])
    logger.info("invitation sent to advocate %s", advocate_id)
    return "sent"
