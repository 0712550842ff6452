"""Invitation campaigns: recipients, steps (invitation, reminders), fan-out, tracking.

Fan-out: ``campaign_step_start`` moves a campaign to step N once (conditional
UPDATE) and starts a chain of ``campaign_batch_send`` tasks, each taking the
next ``BATCH`` eligible recipients by primary key after the last one it saw.

**Each recipient is emailed at most once per step**, also when workers die:

1. *claim*: ``UPDATE recipient SET claimed_step = N WHERE id = … AND
   claimed_step = N-1 AND steps_sent = N-1`` (committed on its own). Of two
   workers on the same row exactly one updates it; the other skips.
2. *send* the email, outside any transaction.
3. *record*: ``steps_sent = N``.

A worker killed between 1 and 3 leaves a row with ``claimed_step >
steps_sent``. We cannot know whether the SMTP server accepted the message, and
a second copy of an invitation is worse than a missing reminder, so such a row
is **never resent automatically**: after ``CLAIM_LEASE`` the sweep marks it
``failed`` with the reason "interrupted", and it is counted. (At most one row
per killed worker is in this state.) An SMTP error that says the message was
not accepted releases the claim and the batch is retried.

The per-program send rate (``RecruitmentSettings.send_rate_per_minute``) is a
counter per program and minute taken under a row lock; a batch that gets less
than it asked for continues at the next minute.
"""

import logging
import smtplib
from datetime import timedelta

from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.emails import email_unsubscribe_all, may_email
from advocacy.models import Advocate, Program
from advocacy.services import advocate_enroll
from core import outbox
from core.errors import ServiceError
from referrals.invitations import advocate_invite

from . import bounces
from .emails import invitation_send, invitation_texts
from .models import Campaign, CampaignRecipient, Customer, SendWindow
from .scoring import settings_for
from .selectors import segment_customers

logger = logging.getLogger(__name__)

BATCH = 200
CLAIM_LEASE = timedelta(minutes=10)
STALL_AFTER = timedelta(minutes=15)
S = CampaignRecipient.State
# Who may get a reminder: sent, not joined, not unsubscribed, not failed.
REMINDABLE = [S.SENT, S.OPENED, S.CLICKED]


# --- creating ------------------------------------------------------------------


def campaign_create(
    *,
    program: Program,
    name: str,
    customers=None,
    segment=None,
    send_at=None,
    reminders: int = 1,
    reminder_after_days: int = 3,
    actor=None,
) -> Campaign:
    """Create a campaign for a segment or a queryset of customers; starts it when due.

    Customers who are already active advocates are left out.
    """
    if (customers is None) == (segment is None):
        raise ServiceError("validation_error", "Give either customers or a segment.")
    if segment is not None:
        customers = segment_customers(segment)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            program=program,
            name=name,
            segment=segment,
            send_at=send_at or timezone.now(),
            reminders=reminders,
            reminder_after_days=reminder_after_days,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        ids = (
            customers.filter(program=program)
            .exclude(advocate__status=Advocate.Status.ACTIVE)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        chunk: list[CampaignRecipient] = []
        for pk in ids.iterator(chunk_size=5000):
            chunk.append(CampaignRecipient(campaign=campaign, customer_id=pk))
            if len(chunk) == 5000:
                CampaignRecipient.objects.bulk_create(chunk, ignore_conflicts=True)
                chunk = []
        CampaignRecipient.objects.bulk_create(chunk, ignore_conflicts=True)
        audit_log(
            action=AuditAction.CAMPAIGN_CREATED,
            obj=campaign,
            program=program,
            actor=actor,
            data={
                "name": name,
                "segment": segment.slug if segment is not None else None,
                "recipients": campaign.recipients.count(),
                "send_at": campaign.send_at.isoformat(),
                "reminders": reminders,
            },
        )
        if campaign.send_at <= timezone.now():
            _start_on_commit(campaign.pk, 1)
    return campaign


def _start_on_commit(campaign_id: int, step: int) -> None:
    from . import tasks

    outbox.enqueue(tasks.campaign_step_start, campaign_id, step)


# --- sending -------------------------------------------------------------------------


def campaign_step_start(*, campaign_id: int, step: int) -> bool:
    """Move the campaign to ``step`` (once) and start sending it; True when it started."""
    from . import tasks

    campaign = Campaign.objects.select_related("program").filter(pk=campaign_id).first()
    if campaign is None or step > campaign.steps:
        return False
    with transaction.atomic():
        moved = Campaign.objects.filter(pk=campaign_id, step=step - 1).update(
            step=step,
            status=Campaign.Status.SENDING,
            step_started_at=timezone.now(),
            step_finished_at=None,
        )
        if not moved:
            return False
        audit_log(
            action=AuditAction.CAMPAIGN_STEP_STARTED,
            obj=campaign,
            program=campaign.program,
            data={"step": step, "reminder": step > 1},
        )
    # Outside any transaction: a sweep may publish directly (the chain re-kicks if lost).
    tasks.campaign_send_batch.delay(campaign_id, step, 0)
    return True


def send_quota_take(*, program: Program, wanted: int) -> int:
    """Take up to ``wanted`` sends from the program's budget for this minute."""
    if wanted <= 0:
        return 0
    rate = settings_for(program).send_rate_per_minute
    minute = timezone.now().replace(second=0, microsecond=0)
    SendWindow.objects.bulk_create(
        [SendWindow(program=program, minute=minute)], ignore_conflicts=True
    )
    with transaction.atomic():
        window = SendWindow.objects.select_for_update().get(program=program, minute=minute)
        granted = max(0, min(wanted, rate - window.sent))
        if granted:
            window.sent += granted
            window.save(update_fields=["sent"])
    return granted


def _eligible(campaign: Campaign, step: int):
    rows = CampaignRecipient.objects.filter(
        campaign=campaign, steps_sent=step - 1, claimed_step=step - 1
    )
    if step == 1:
        return rows.filter(state=S.QUEUED)
    return rows.filter(state__in=REMINDABLE, joined_at__isnull=True)


def _skip_reason(recipient: CampaignRecipient) -> str | None:
    customer = recipient.customer
    if recipient.unsubscribed_at or customer.unsubscribed_at:
        return S.UNSUBSCRIBED
    advocate = customer.advocate
    if advocate is not None and not may_email(advocate, "invitation"):
        return S.UNSUBSCRIBED
    if not customer.marketing_consent or not customer.email:
        return S.SKIPPED_NO_CONSENT
    if customer.undeliverable_at:
        return S.BOUNCED  # the address bounced for good before: never sent to again
    return None


def campaign_batch_send(*, campaign_id: int, step: int, after_pk: int) -> tuple[int, int] | None:
    """Send one batch of step ``step``; returns (next after_pk, wait seconds) or None when done."""
    campaign = Campaign.objects.select_related("program").filter(pk=campaign_id).first()
    if campaign is None or campaign.step != step or campaign.step_finished_at is not None:
        return None
    batch = list(
        _eligible(campaign, step)
        .filter(pk__gt=after_pk)
        .select_related("customer__advocate")
        .order_by("pk")[:BATCH]
    )
    if not batch:
        if after_pk and _eligible(campaign, step).exists():
            # Another chain (a redelivered task) is behind us: sweep again from the start.
            return 0, 0
        _step_finish(campaign, step)
        return None
    to_send = []
    for r in batch:
        reason = _skip_reason(r)
        if reason is None:
            to_send.append(r)
            continue
        # Conditional: a row another worker claimed meanwhile is left to it.
        CampaignRecipient.objects.filter(
            pk=r.pk, claimed_step=step - 1, steps_sent=step - 1
        ).update(state=reason)
    granted = send_quota_take(program=campaign.program, wanted=len(to_send))
    if granted:
        # One SMTP session for the batch (a connection per message is 2-3x slower).
        texts = invitation_texts(campaign.program)
        with get_connection() as connection:
            for r in to_send[:granted]:
                r.campaign = campaign
                recipient_send(recipient=r, step=step, connection=connection, texts=texts)
    if granted < len(to_send):
        # Out of budget for this minute: continue from the first unsent one.
        resume_after = to_send[granted].pk - 1
        wait = 60 - timezone.now().second
        return resume_after, wait
    return batch[-1].pk, 0


def recipient_send(
    *, recipient: CampaignRecipient, step: int, connection=None, texts: dict | None = None
) -> str:
    """Claim, send, record (see the module's notes): "sent", "taken", "bounced" or "failed"."""
    now = timezone.now()
    claimed = CampaignRecipient.objects.filter(
        pk=recipient.pk, claimed_step=step - 1, steps_sent=step - 1
    ).update(claimed_step=step, claimed_at=now)
    if not claimed:
        return "taken"
    try:
        invitation_send(recipient=recipient, step=step, connection=connection, texts=texts)
    except smtplib.SMTPRecipientsRefused as exc:
        hard = bounces.permanent_refusal(exc.recipients)
        if hard is not None:
            # 5xx: the mailbox does not exist (or will never take mail from us).
            reason = f"refused at send: {hard[0]} {hard[1]}"
            CampaignRecipient.objects.filter(pk=recipient.pk).update(
                state=S.BOUNCED, last_error=reason[:300]
            )
            bounces.email_undeliverable(reason=reason, customer_ids=[recipient.customer_id])
            return "bounced"
        CampaignRecipient.objects.filter(pk=recipient.pk).update(
            state=S.FAILED, last_error=f"refused: {exc}"[:300]
        )
        return "failed"
    except (smtplib.SMTPException, OSError):
        # Not accepted by the server: release the claim, the task retries the batch.
        CampaignRecipient.objects.filter(pk=recipient.pk, claimed_step=step).update(
            claimed_step=step - 1, claimed_at=None
        )
        raise
    update = {"steps_sent": step, "last_error": ""}
    if step == 1:
        update.update(state=S.SENT, sent_at=timezone.now())
    CampaignRecipient.objects.filter(pk=recipient.pk, claimed_step=step).update(**update)
    return "sent"


def _step_finish(campaign: Campaign, step: int) -> None:
    Campaign.objects.filter(pk=campaign.pk, step=step, step_finished_at__isnull=True).update(
        step_finished_at=timezone.now(), status=Campaign.Status.DONE
    )


# --- the sweep (beat) ---------------------------------------------------------------


def campaigns_sweep() -> dict:
    """Start due campaigns and reminders, mark joins, fail interrupted sends, re-kick stalls."""
    from . import tasks

    now = timezone.now()
    out = {"started": 0, "reminders": 0, "joined": 0, "interrupted": 0, "rekicked": 0}
    # Joins first: nobody who joined since the last sweep is reminded.
    out["joined"] = recipients_mark_joined()
    for pk in Campaign.objects.filter(step=0, send_at__lte=now).values_list("pk", flat=True):
        out["started"] += campaign_step_start(campaign_id=pk, step=1)
    for c in Campaign.objects.filter(step__gte=1, step_finished_at__isnull=False):
        if c.step < c.steps and c.step_started_at + timedelta(days=c.reminder_after_days) <= now:
            out["reminders"] += campaign_step_start(campaign_id=c.pk, step=c.step + 1)
    out["interrupted"] = (
        CampaignRecipient.objects.filter(claimed_step__gt=0, claimed_at__lt=now - CLAIM_LEASE)
        .exclude(steps_sent=F("claimed_step"))
        .exclude(state__in=[S.FAILED, S.BOUNCED])
        .update(
            state=S.FAILED,
            last_error="interrupted mid-send: not resent, it may have been delivered",
        )
    )
    # A chain lost with its worker (and not redelivered): start it again from the
    # first pk; claims make it safe to run beside a live chain.
    stalled = Campaign.objects.filter(
        status=Campaign.Status.SENDING,
        step_finished_at__isnull=True,
        step_started_at__lt=now - STALL_AFTER,
    )
    for c in stalled:
        latest = (
            CampaignRecipient.objects.filter(campaign=c, claimed_at__isnull=False)
            .order_by("-claimed_at")
            .values_list("claimed_at", flat=True)
            .first()
        )
        if latest is None or latest < now - STALL_AFTER:
            tasks.campaign_send_batch.delay(c.pk, c.step, 0)
            out["rekicked"] += 1
    SendWindow.objects.filter(minute__lt=now - timedelta(hours=1)).delete()
    return out


def recipients_mark_joined(*, customer_ids: list[int] | None = None) -> int:
    """Recipients whose customer is now an active advocate have joined."""
    rows = CampaignRecipient.objects.filter(
        joined_at__isnull=True,
        steps_sent__gte=1,
        customer__advocate__status=Advocate.Status.ACTIVE,
    )
    if customer_ids is not None:
        rows = rows.filter(customer_id__in=customer_ids)
    return rows.update(state=S.JOINED, joined_at=timezone.now())


# --- tracking -------------------------------------------------------------------------


def recipient_opened(*, recipient_id: int) -> bool:
    now = timezone.now()
    done = CampaignRecipient.objects.filter(pk=recipient_id, opened_at__isnull=True).update(
        opened_at=now
    )
    CampaignRecipient.objects.filter(pk=recipient_id, state=S.SENT).update(state=S.OPENED)
    return bool(done)


def recipient_clicked(*, recipient_id: int) -> CampaignRecipient | None:
    """The tracked join link: clicked (and opened); for an invitation-only program the
    customer becomes an invited advocate, so the join page lets them in."""
    recipient = (
        CampaignRecipient.objects.select_related("customer", "campaign__program")
        .filter(pk=recipient_id)
        .first()
    )
    if recipient is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        CampaignRecipient.objects.filter(pk=recipient_id, opened_at__isnull=True).update(
            opened_at=now
        )
        CampaignRecipient.objects.filter(pk=recipient_id, clicked_at__isnull=True).update(
            clicked_at=now
        )
        CampaignRecipient.objects.filter(pk=recipient_id, state__in=[S.SENT, S.OPENED]).update(
            state=S.CLICKED
        )
        customer = recipient.customer
        program = recipient.campaign.program
        if program.invitation_only and customer.advocate_id is None and customer.email:
            advocate, _ = advocate_enroll(
                program=program,
                email=customer.email,
                name=customer.name,
                locale=customer.locale,
                status=Advocate.Status.INVITED,
            )
            Customer.objects.filter(pk=customer.pk, advocate__isnull=True).update(advocate=advocate)
    return recipient


def recipient_seen_in_app(*, recipient_id: int) -> bool:
    """The storefront widget showed the invitation to the signed-in customer: True the
    first time only. It counts as opened and clicked (the widget enrols them)."""
    now = timezone.now()
    with transaction.atomic():
        first = CampaignRecipient.objects.filter(
            pk=recipient_id, shown_in_app_at__isnull=True
        ).update(shown_in_app_at=now)
        if not first:
            return False
        CampaignRecipient.objects.filter(pk=recipient_id, opened_at__isnull=True).update(
            opened_at=now
        )
        CampaignRecipient.objects.filter(pk=recipient_id, clicked_at__isnull=True).update(
            clicked_at=now
        )
        CampaignRecipient.objects.filter(
            pk=recipient_id, state__in=[S.QUEUED, S.SENT, S.OPENED]
        ).update(state=S.CLICKED)
    return True


def customer_unsubscribe(*, customer_id: int, recipient_id: int | None = None) -> bool:
    """One-click unsubscribe from recruitment emails (and all emails as an advocate)."""
    now = timezone.now()
    with transaction.atomic():
        done = Customer.objects.filter(pk=customer_id, unsubscribed_at__isnull=True).update(
            unsubscribed_at=now
        )
        # Open campaigns: they stop here (counted as unsubscribed).
        CampaignRecipient.objects.filter(customer_id=customer_id, joined_at__isnull=True).exclude(
            state__in=[S.FAILED, S.SKIPPED_NO_CONSENT]
        ).filter(Q(unsubscribed_at__isnull=True)).update(state=S.UNSUBSCRIBED, unsubscribed_at=now)
        customer = Customer.objects.select_related("advocate").get(pk=customer_id)
        if customer.advocate is not None:
            email_unsubscribe_all(advocate=customer.advocate)
    return bool(done)


# --- the NPS loop's promoters ------------------------------------------------------


def promoter_invite(*, customer: Customer) -> bool:
    """Invite a promoter to the program when it enables it (once: an advocate exists after)."""
    if not settings_for(customer.program).auto_invite_promoters:
        return False
    if customer.advocate_id is not None or not customer.email or customer.unsubscribed_at:
        return False
    advocate = advocate_invite(program=customer.program, email=customer.email, name=customer.name)
    Customer.objects.filter(pk=customer.pk, advocate__isnull=True).update(advocate=advocate)
    return True
