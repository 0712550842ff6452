"""Nurture's emails: HTML branded with the program's logo and colour, a plain-text
part, in the advocate's language, one-click unsubscribe, sent at most once.

``email_queue`` (inside the caller's transaction) records an ``OutgoingEmail``
and enqueues its sending through the outbox; ``email_send`` (a task, outside any
transaction) claims the row, renders, sends and records the result.
"""

from datetime import timedelta

import css_inline
from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from advocacy.emails import list_unsubscribe_headers, may_email, unsubscribe_url
from advocacy.models import Advocate
from core import outbox
from core.config_cache import ConfigCache
from core.mail import email_tag
from core.normalize import mask_email
from referrals import placements
from referrals.services import advocate_primary_link, referral_url

from .models import Badge, OutgoingEmail, ProgramSettings

SEND_LEASE = timedelta(minutes=5)
# Which preference allows each email (advocacy's kinds): news-like mail stops with
# "program news", news of the advocate's own rewards with "rewards and payouts"
# (advocacy's "reward_available" kind).
PREFERENCE = {
    "welcome": "program_news",
    "news": "program_news",
    "reengage": "program_news",
    "review_request": "program_news",
    "tier_changed": "reward_available",
    "badge": "reward_available",
    "milestone": "reward_available",
    "friend_activity": "reward_available",
    "submission_reviewed": "reward_available",
}


def email_queue(*, advocate: Advocate, template: str, key: str, params: dict) -> OutgoingEmail:
    """Queue an email once per ``key``; call inside the transaction of its cause."""
    if template not in PREFERENCE:
        raise ValueError(f"unknown nurture email {template!r}")
    key = key[:120]
    try:
        # Inserted first (most keys are new): the unique key turns a repeat away.
        with transaction.atomic():
            row = OutgoingEmail.objects.create(
                key=key,
                program_id=advocate.program_id,
                advocate=advocate,
                template=template,
                params=params,
            )
    except IntegrityError:
        return OutgoingEmail.objects.get(key=key)
    outbox.enqueue(send_email, row.pk)
    return row


# The placement the advocate's link carries in each email that shows it, so clicks on
# it (and the referrals and purchases after them) count under that email.
LINK_PLACEMENT = {
    "welcome": placements.EMAIL_NEWSLETTER,
    "news": placements.EMAIL_NEWSLETTER,
    "reengage": placements.EMAIL_REMINDER,
}


def advocate_link_url(advocate: Advocate, template: str) -> str:
    """The advocate's referral link as this email shows it: ``?p=<the email's placement>``."""
    url = referral_url(advocate_primary_link(advocate).code)
    placement = LINK_PLACEMENT.get(template)
    return f"{url}?p={placement}" if placement else url


# program id -> (engagement_emails, show_friend_names), for CONFIG_CACHE_SECONDS.
_flags = ConfigCache("nurture program settings", invalidated_by=("nurture.ProgramSettings",))


def _program_flags(program_id: int) -> tuple[bool, bool]:
    return _flags.get(
        program_id,
        lambda: tuple(
            ProgramSettings.objects.filter(program_id=program_id)
            .values_list("engagement_emails", "show_friend_names")
            .first()
            or (False, False)
        ),
    )


def engagement_emails_on(program_id: int) -> bool:
    """Friend-activity, badge and milestone emails: only for programs that set them up."""
    return _program_flags(program_id)[0]


def friend_names_shown(program_id: int) -> bool:
    """Whether advocates' emails name the friend (else nobody)."""
    return _program_flags(program_id)[1]


def friend_label(referral) -> str:
    """How an advocate's email names a friend: the first name where the program shows
    names, else nothing (an email address only as a mask)."""
    if not friend_names_shown(referral.program_id):
        return ""
    if referral.friend_name:
        return referral.friend_name.split()[0]
    return mask_email(referral.friend_email) if referral.friend_email else ""


def portal_url(advocate: Advocate, name: str = "portal:dashboard") -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=[advocate.program.slug])


def render(row: OutgoingEmail) -> tuple[str, str, str]:
    """(subject, text, html) of a queued email, in the advocate's language."""
    advocate = row.advocate
    program = advocate.program
    context = {
        **row.params,
        "advocate": advocate,
        "name": advocate.name or advocate.email.split("@")[0],
        "program": program,
        "brand_color": program.brand_color or "#1f6feb",
        "portal_url": portal_url(advocate),
        "unsubscribe_url": unsubscribe_url(advocate),
        "site_url": settings.SITE_URL,
    }
    if row.template in LINK_PLACEMENT:
        context["referral_url"] = advocate_link_url(advocate, row.template)
    base = f"nurture/emails/{row.template}"
    with translation.override(advocate.locale or settings.LANGUAGE_CODE):
        if "code" in row.params:  # a badge: its name in the advocate's language
            context["badge"] = str(Badge.Code(row.params["code"]).label)
        subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
        text = render_to_string(f"{base}.txt", context)
        # One branded layout around the plain-text part: both say the same.
        html = render_to_string(
            "nurture/emails/layout.html", {**context, "subject": subject, "text": text}
        )
    html = css_inline.inline(html)
    return subject[:200], text, html


def _claim(row_id: int) -> bool:
    now = timezone.now()
    return bool(
        OutgoingEmail.objects.filter(pk=row_id, status=OutgoingEmail.Status.QUEUED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + SEND_LEASE)
    )


def email_send(*, email_id: int) -> str:
    """Send one queued email: "sent", "skipped", "done" (already) or "in-progress"."""
    row = OutgoingEmail.objects.select_related("advocate__program").filter(pk=email_id).first()
    if row is None or row.status != OutgoingEmail.Status.QUEUED:
        return "done"
    if not _claim(row.pk):
        return "in-progress"
    advocate = row.advocate
    if not may_email(advocate, PREFERENCE[row.template]):
        OutgoingEmail.objects.filter(pk=row.pk).update(
            status=OutgoingEmail.Status.SKIPPED, claimed_until=None, to=advocate.email
        )
        return "skipped"
    subject, text, html = render(row)
    OutgoingEmail.objects.filter(pk=row.pk).update(
        to=advocate.email, subject=subject, text=text, html=html
    )
    message = EmailMultiAlternatives(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [advocate.email],
        headers=list_unsubscribe_headers(advocate),
    )
    message.attach_alternative(html, "text/html")
    email_tag(message, kind=row.template, program_id=row.program_id)
    try:
        message.send()
    except Exception as exc:
        OutgoingEmail.objects.filter(pk=row.pk).update(claimed_until=None, error=str(exc)[:300])
        raise
    OutgoingEmail.objects.filter(pk=row.pk).update(
        status=OutgoingEmail.Status.SENT, sent_at=timezone.now(), claimed_until=None, error=""
    )
    return "sent"


@shared_task(
    name="nurture.tasks.send_email",
    acks_late=True,
    autoretry_for=(OperationalError, OSError),
    retry_backoff=30,
    max_retries=5,
)
def send_email(email_id: int) -> str:
    return email_send(email_id=email_id)
