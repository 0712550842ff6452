"""Invitations: an advocate-to-be gets an email with the join page and their referral link."""

import logging
import smtplib
from urllib.parse import urlencode

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from advocacy.emails import advocate_notify
from advocacy.models import Advocate, Program
from advocacy.services import advocate_enroll
from core import outbox

from .placements import EMAIL_INVITATION
from .services import advocate_primary_link, referral_url

logger = logging.getLogger(__name__)


def advocate_invite(*, program: Program, email: str, name: str = "", actor=None) -> Advocate:
    """Create an invited advocate and email the invitation after commit."""
    with transaction.atomic():
        advocate, _ = advocate_enroll(
            program=program, email=email, name=name, status=Advocate.Status.INVITED, actor=actor
        )
        if advocate.invitation_sent_at is None:
            outbox.enqueue(send_invitation, advocate.pk)
    return advocate


def invitation_send(*, advocate_id: int) -> str:
    """Email an advocate their invitation once; a second run after success sends nothing."""
    advocate = Advocate.objects.select_related("program").filter(pk=advocate_id).first()
    if advocate is None:
        return "missing"
    if advocate.invitation_sent_at is not None:
        return "already-sent"
    if advocate.status not in (Advocate.Status.INVITED, Advocate.Status.ACTIVE):
        return "skipped"
    link = advocate_primary_link(advocate)
    join_url = (
        settings.SITE_URL
        + reverse("portal:join", args=[advocate.program.slug])
        + "?"
        + urlencode({"email": advocate.email})
    )
    result = advocate_notify(
        advocate=advocate,
        kind="invitation",
        key=f"invitation:{advocate.pk}",
        template="emails/invitation",
        context={
            "program": advocate.program,
            "join_url": join_url,
            # Clicks on it count under the invitation email's placement.
            "referral_url": f"{referral_url(link.code)}?p={EMAIL_INVITATION}",
        },
    )
    if result == "sent":
        Advocate.objects.filter(pk=advocate.pk, invitation_sent_at__isnull=True).update(
            invitation_sent_at=timezone.now()
        )
        logger.info("invitation sent to advocate %s", advocate_id)
    return "unsubscribed" if result == "opted-out" else result


@shared_task(
    name="referrals.tasks.send_invitation",
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def send_invitation(advocate_id: int) -> str:
    return invitation_send(advocate_id=advocate_id)
