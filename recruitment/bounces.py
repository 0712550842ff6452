"""Bounces and complaints: an address that cannot (or must not) get recruitment email.

Two ways in:

* the mail provider's webhook, ``POST /webhooks/email/bounces`` (``api.BounceWebhookApi``,
  shared secret ``EMAIL_WEBHOOK_SECRET``), for bounces that come back after the SMTP
  server accepted the message, and for spam complaints;
* the SMTP server refusing a recipient with a permanent (5xx) code while a campaign
  sends (``campaigns.recipient_send``).

A hard bounce marks every customer with that address undeliverable
(``Customer.undeliverable_at``), turns their campaign recipients that were sent
to into ``bounced``, and no campaign step or NPS survey goes to the address again
(they are skipped and counted as ``bounced``). A complaint does the same and
unsubscribes the customer. A soft bounce (a full mailbox) changes nothing: the
provider retries it. A new address from the merchant clears the mark.
"""

from django.db import transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from core.normalize import normalize_email

from .models import CampaignRecipient, Customer

S = CampaignRecipient.State
# States a bounce report may overwrite (a join, an unsubscribe or a failure stays).
# Queued ones are skipped at send time (and counted as bounced then).
BOUNCEABLE = [S.SENT, S.OPENED, S.CLICKED]


def email_undeliverable(
    *,
    email: str = "",
    reason: str,
    complaint: bool = False,
    customer_ids: list[int] | None = None,
) -> int:
    """Mark the customers with this address (or these customers) undeliverable.

    Returns how many customers were newly marked. Idempotent: a second report of
    the same address changes nothing.
    """
    from .campaigns import customer_unsubscribe

    normalized = normalize_email(email)
    if not normalized and not customer_ids:
        return 0
    rows = Customer.objects.all()
    rows = (
        rows.filter(pk__in=customer_ids)
        if customer_ids
        else rows.filter(email_normalized=normalized)
    )
    now = timezone.now()
    reason = f"{'complaint' if complaint else 'bounce'}: {reason}"[:300]
    marked = 0
    with transaction.atomic():
        customers = list(rows.select_for_update().select_related("program"))
        for customer in customers:
            if customer.undeliverable_at is None:
                Customer.objects.filter(pk=customer.pk).update(
                    undeliverable_at=now, undeliverable_reason=reason
                )
                audit_log(
                    action=AuditAction.CUSTOMER_EMAIL_BOUNCED,
                    obj=customer,
                    program=customer.program,
                    data={"reason": reason, "complaint": complaint},
                )
                marked += 1
        ids = [c.pk for c in customers]
        if complaint:
            for pk in ids:
                customer_unsubscribe(customer_id=pk)
        else:
            CampaignRecipient.objects.filter(
                customer_id__in=ids, state__in=BOUNCEABLE, joined_at__isnull=True
            ).update(state=S.BOUNCED, last_error=reason)
    return marked


def permanent_refusal(refused: dict) -> tuple[int, str] | None:
    """(code, message) when the SMTP server refused the recipient for good (5xx)."""
    for code, message in refused.values():
        if 500 <= int(code) < 600:
            text = message.decode(errors="replace") if isinstance(message, bytes) else message
            return int(code), str(text)
    return None
