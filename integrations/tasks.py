"""Celery tasks for outgoing webhooks: one attempt per run, the next one scheduled by countdown."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from . import selectors, services
from .models import WebhookDelivery

logger = logging.getLogger(__name__)


def _longest_countdown() -> int:
    # Redis hands an unacknowledged (countdown) message to another worker after the
    # visibility timeout, so longer waits are left to the beat sweep instead.
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    return int(options.get("visibility_timeout", 3600)) // 2


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
    soft_time_limit=60,
    time_limit=90,
)
def deliver_webhook(self, delivery_id: int) -> str:
    """Attempt one delivery if due; when it stays pending, queue the next attempt."""
    status = services.delivery_attempt(delivery_id=delivery_id)
    # Only the run that made the attempt schedules the next one ("not-due" runs are
    # duplicates), so a redelivered message never doubles the chain. Eagerly run
    # tasks ignore countdown and would recurse: there the caller drives the retries.
    if status != WebhookDelivery.Status.PENDING or self.request.is_eager:
        return status
    next_at = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if next_at is not None:
        countdown = max(0, int((next_at - timezone.now()).total_seconds()) + 1)
        if countdown <= _longest_countdown():
            deliver_webhook.apply_async((delivery_id,), countdown=countdown)
    return status


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=3,
    soft_time_limit=100,
    time_limit=120,
)
def deliver_due_webhooks() -> int:
    """Beat task: queue pending deliveries whose next attempt is overdue."""
    ids = selectors.delivery_ids_due()
    for pk in ids:
        deliver_webhook.delay(pk)
    if ids:
        logger.info("queued %s overdue webhook deliveries", len(ids))
    return len(ids)
