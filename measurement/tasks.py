"""Celery tasks of the measurement layer: rollups and reports."""

from datetime import UTC, date

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from advocacy.models import Program

from . import reports, services


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


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=60, max_retries=5)
def send_weekly_report(program_id: int, user_id: int, week: str) -> bool:
    """Send one manager one week's report (at most once, whatever the retries)."""
    return reports.weekly_report_send(
        program_id=program_id, user_id=user_id, week=date.fromisoformat(week)
    )


@shared_task(acks_late=True, autoretry_for=(OperationalError,), max_retries=3)
def send_weekly_reports() -> int:
    """Beat task (Mondays): last week's report to every program's managers."""
    week = reports.last_week(timezone.now().astimezone(UTC).date()).date_from
    sent = 0
    for program in Program.objects.filter(status=Program.Status.ACTIVE):
        for membership in reports.recipients(program):
            send_weekly_report.delay(program.pk, membership.user_id, week.isoformat())
            sent += 1
    return sent
