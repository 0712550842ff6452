"""Reads for webhook deliveries."""

from datetime import timedelta

from django.utils import timezone

from .models import WebhookDelivery


def delivery_ids_due(*, older_than_seconds: int = 30, limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is overdue (their queued task was lost or skipped)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=cutoff
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
