"""Stripe webhook events: stored once under their id, processed in a task.

Handlers re-fetch the object from Stripe before acting, so events arriving
out of order (or replayed) act on Stripe's current state, not the payload's.
"""

import logging
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from advocacy.models import Program

from . import payouts, stripe_gateway
from .models import Payout, PayoutAccount, StripeEvent

logger = logging.getLogger(__name__)


def stripe_event_store(*, program: Program | None, event: dict) -> tuple[StripeEvent, bool]:
    """Store a verified event once; returns (event, created). Enqueues processing on commit."""
    from .tasks import process_stripe_event

    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(
                id=event["id"],
                program=program,
                type=event.get("type", ""),
                created=datetime.fromtimestamp(int(event.get("created", 0)), tz=UTC),
                payload=event,
            )
            transaction.on_commit(lambda: process_stripe_event.delay(stored.id))
    except IntegrityError:
        return StripeEvent.objects.get(id=event["id"]), False
    return stored, True


def _account_updated(event: StripeEvent) -> str:
    account_id = event.payload["data"]["object"]["id"]
    account = PayoutAccount.objects.filter(stripe_account_id=account_id).first()
    if account is None:
        return "unknown account"
    return payouts.payout_account_refresh(account=account)


def _transfer_reversed(event: StripeEvent) -> str:
    transfer_id = event.payload["data"]["object"]["id"]
    payout = Payout.objects.filter(stripe_transfer_id=transfer_id).first()
    if payout is None:
        return "unknown transfer"
    fresh = stripe_gateway.transfer_retrieve(transfer_id)
    if not fresh.reversed:
        return "transfer not reversed at Stripe: ignored"
    changed = payouts.payout_reversed(payout_id=payout.pk, reason="reversed at Stripe")
    return "payout reversed" if changed else f"payout already {payout.status}"


HANDLERS = {
    "account.updated": _account_updated,
    "transfer.reversed": _transfer_reversed,
}


def stripe_event_process(*, event_id: str) -> str:
    """Process a stored event once; a second run does nothing."""
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().filter(id=event_id).first()
        if event is None or event.processed_at is not None:
            return "done"
        handler = HANDLERS.get(event.type)
        result = handler(event) if handler else "ignored"
        event.processed_at = timezone.now()
        event.result = result[:300]
        event.save(update_fields=["processed_at", "result"])
    logger.info("stripe event %s (%s): %s", event.id, event.type, result)
    return result
