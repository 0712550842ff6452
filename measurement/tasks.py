"""Celery tasks of the measurement layer: rollups and reports."""

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=10, max_retries=3)
def refresh_rollups() -> int:
    """Beat task: rebuild the days marked changed (before today) and their cohorts."""
    return services.rollups_refresh()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=30, max_retries=3)
def sweep_rollups(days: int = 2) -> int:
    """Beat task, the safety net: mark the last days of every program, then rebuild them."""
    marked = services.rollups_sweep(days=days)
    services.rollups_refresh()
    return marked
