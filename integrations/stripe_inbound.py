"""All of inbound Stripe: verify, store once, dispatch in a task, act.

``POST /webhooks/stripe/<program>/`` (``views.stripe_webhook``) verifies the
signature with the program's secret, stores the event once under Stripe's id
and answers at once; ``process_stripe_event`` then runs its handler in a task,
and a beat sweep processes events whose task was lost.

Two kinds of events arrive, and the rule for trusting them differs:

* **Our own Stripe objects** (Connect accounts, transfers): the handler
  re-fetches the object with the platform's key before money moves, so a
  replayed or out-of-order event acts on Stripe's current state.
* **The merchant's sales** (Checkout, invoices, charges, disputes) happen in
  the merchant's Stripe account, which the platform holds no key for: the
  signature is the proof, and the handlers (``stripe_attribution``) are
  order-proof instead (refunds use Stripe's cumulative ``amount_refunded``;
  conversions are idempotent per order id).
"""

import logging
from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Program
from core import outbox
from core.errors import ServiceError
from rewards import payouts, stripe_gateway
from rewards.models import Payout, PayoutAccount

from .models import StripeEvent
from .stripe_attribution import HANDLERS as ATTRIBUTION_HANDLERS
from .stripe_attribution import NotReadyYet, Unusable

logger = logging.getLogger(__name__)
# How long a worker holds an event it processes before another may take it over.
PROCESSING_LEASE = timedelta(minutes=5)


def stripe_event_store(*, program: Program | None, event: dict) -> tuple[StripeEvent, bool]:
    """Store a verified event once; returns (event, created). Processing runs after commit."""
    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(
                id=event["id"],
                program=program,
                type=event.get("type", ""),
                created=datetime.fromtimestamp(int(event.get("created", 0)), tz=UTC),
                payload=event,
            )
            outbox.enqueue(process_stripe_event, stored.id)
    except IntegrityError:
        stored = StripeEvent.objects.get(id=event["id"])
        if stored.processed_at is None:
            outbox.enqueue(process_stripe_event, stored.id)  # Stripe's retry nudges it
        return stored, False
    return stored, True


def stripe_events_pending(*, older_than_seconds: int = 60) -> list[str]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        StripeEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .order_by("created")
        .values_list("id", flat=True)[:500]
    )


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
    """Process a stored event once; a second run does nothing.

    The event is claimed and committed first, then its handler runs outside any
    transaction of ours (handlers call Stripe, and each writes in its own
    transaction), then the result is recorded. Handlers are idempotent, so a
    crash between the two only means the handler runs again.
    """
    now = timezone.now()
    claimed = (
        StripeEvent.objects.filter(id=event_id, processed_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + PROCESSING_LEASE)
    )
    event = StripeEvent.objects.select_related("program").filter(id=event_id).first()
    if event is None or event.processed_at is not None:
        return "done"
    if not claimed:
        return "in-progress"  # another worker is on it; the sweep retries if it died
    try:
        handler = HANDLERS.get(event.type)
        if handler:
            result = handler(event)
        elif event.type in ATTRIBUTION_HANDLERS and event.program is not None:
            result = ATTRIBUTION_HANDLERS[event.type](
                event.program, event.payload["data"]["object"]
            )
        else:
            result = "ignored"
    except (Unusable, ServiceError) as exc:
        # Bad data in a signed event (an absurd amount, an unknown currency): store
        # why, and stop, rather than retry it forever.
        reason = exc.message if isinstance(exc, ServiceError) else str(exc)
        result = f"rejected: {reason}"
        logger.warning("stripe event %s (%s) %s", event.id, event.type, result)
    except Exception:
        # Let the task's retry (or the sweep) take it again at once.
        StripeEvent.objects.filter(id=event_id).update(claimed_until=None)
        raise
    StripeEvent.objects.filter(id=event_id).update(
        processed_at=timezone.now(), result=result[:300], claimed_until=None
    )
    logger.info("stripe event %s (%s): %s", event.id, event.type, result)
    return result


@shared_task(
    name="integrations.tasks.process_stripe_event",
    acks_late=True,
    autoretry_for=(OperationalError, NotReadyYet, *stripe_gateway.TRANSIENT_ERRORS),
    retry_backoff=30,
    max_retries=8,
)
def process_stripe_event(event_id: str) -> str:
    return stripe_event_process(event_id=event_id)


def stripe_events_sweep() -> int:
    """Queue the events whose processing was lost or kept failing; returns how many."""
    ids = stripe_events_pending()
    for event_id in ids:
        process_stripe_event.delay(event_id)
    return len(ids)
