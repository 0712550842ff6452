"""Celery tasks of the integrations: beat sweeps here; one-off tasks beside their services."""

import logging

from celery import shared_task
from django.db import OperationalError

from . import selectors
from .services import deliver_webhook
from .stripe_inbound import process_stripe_event, stripe_events_sweep

logger = logging.getLogger(__name__)

__all__ = [
    "deliver_due_webhooks",
    "deliver_webhook",
    "process_pending_stripe_events",
    "process_stripe_event",
]


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


@shared_task(acks_late=True)
def process_pending_stripe_events() -> int:
    """Beat task: process Stripe events whose task was lost or kept failing."""
    return stripe_events_sweep()
