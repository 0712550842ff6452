"""Nurture's beat jobs: the tiers' safety net and the emails that fall due with time."""

from datetime import timedelta

from celery import shared_task
from django.db.models import Count, Max, Q
from django.utils import timezone

from advocacy.models import Advocate
from referrals.models import Conversion, Referral

from . import badges
from .emails import email_queue, send_email  # noqa: F401 - registers the send task
from .followups import conversion_followups  # noqa: F401 - registers the task
from .models import ProgramSettings, Tier, WelcomeStep
from .receivers import step_params
from .tiers import recompute_standing, standing_recompute  # noqa: F401 - registers the task

# Emails fall due in a window, so a job that missed a run catches up but a step
# added today does not write to people who joined long ago.
CATCH_UP = timedelta(days=2)


def tiers_recompute_all() -> int:
    """Recompute every advocate of programs with tiers (rolling windows move with time)."""
    programs = Tier.objects.values("program_id").distinct()
    count = 0
    for advocate in Advocate.objects.filter(program_id__in=programs).order_by("pk").iterator():
        standing_recompute(advocate=advocate)
        count += 1
    return count


def welcome_steps_due(*, now=None) -> int:
    now = now or timezone.now()
    count = 0
    for step in WelcomeStep.objects.filter(is_active=True, day__gt=0).select_related("program"):
        due = now - timedelta(days=step.day)
        advocates = Advocate.objects.filter(
            program_id=step.program_id,
            status=Advocate.Status.ACTIVE,
            created_at__lte=due,
            created_at__gt=due - CATCH_UP,
        ).select_related("program")
        for advocate in advocates:
            email_queue(
                advocate=advocate,
                template="welcome",
                key=f"welcome:{advocate.pk}:{step.pk}",
                params=step_params(step, advocate),
            )
            count += 1
    return count


def review_requests_due(*, now=None) -> int:
    """Ask advocates for a review N days after their own purchase (per program)."""
    now = now or timezone.now()
    count = 0
    for row in ProgramSettings.objects.filter(review_request_days__isnull=False):
        due = now - timedelta(days=row.review_request_days)
        orders = Conversion.objects.filter(
            program_id=row.program_id,
            occurred_at__lte=due,
            occurred_at__gt=due - CATCH_UP,
        ).exclude(customer_email_normalized="")
        by_email = {
            a.email_normalized: a
            for a in Advocate.objects.filter(
                program_id=row.program_id,
                status=Advocate.Status.ACTIVE,
                email_normalized__in=orders.values("customer_email_normalized"),
            ).select_related("program")
        }
        for order in orders:
            advocate = by_email.get(order.customer_email_normalized)
            if advocate is None:
                continue
            email_queue(
                advocate=advocate,
                template="review_request",
                key=f"review-request:{order.pk}",
                params={"review_url": row.review_url},
            )
            count += 1
    return count


def reengagement_due(*, now=None) -> int:
    """Remind advocates whose link nobody used for N days (once per N-day period)."""
    now = now or timezone.now()
    count = 0
    for row in ProgramSettings.objects.filter(reengage_after_days__isnull=False):
        days = row.reengage_after_days
        since = now - timedelta(days=days)
        advocates = (
            Advocate.objects.filter(
                program_id=row.program_id, status=Advocate.Status.ACTIVE, created_at__lte=since
            )
            .annotate(last_click=Max("clicks__created_at"))
            .filter(Q(last_click__isnull=True) | Q(last_click__lt=since))
            .select_related("program")
        )
        period = int(now.timestamp() // (days * 86400))
        for advocate in advocates:
            email_queue(
                advocate=advocate,
                template="reengage",
                key=f"reengage:{advocate.pk}:{period}",
                params={},
            )
            count += 1
    return count


def advocate_of_the_month_pick(*, now=None) -> int:
    """The advocate with most friends referred last month, featured on the program page."""
    now = now or timezone.now()
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (first - timedelta(days=1)).replace(day=1)
    picked = 0
    for row in ProgramSettings.objects.all():
        best = (
            Referral.objects.filter(program_id=row.program_id, created_at__gte=start)
            .filter(created_at__lt=first, advocate__status=Advocate.Status.ACTIVE)
            .exclude(status=Referral.Status.REJECTED)
            .values("advocate_id")
            .annotate(n=Count("pk"))
            .order_by("-n", "advocate_id")
            .first()
        )
        if best is None or row.advocate_of_the_month_id == best["advocate_id"]:
            continue
        row.advocate_of_the_month_id = best["advocate_id"]
        row.save(update_fields=["advocate_of_the_month"])
        badges.badge_award(
            advocate=Advocate.objects.get(pk=best["advocate_id"]),
            code=badges.Code.ADVOCATE_OF_THE_MONTH,
        )
        picked += 1
    return picked


@shared_task(name="nurture.tasks.nurture_hourly", acks_late=True, max_retries=0)
def nurture_hourly() -> dict:
    """Safe to run any time: every step skips what was already done."""
    return {
        "tiers": tiers_recompute_all(),
        "welcome": welcome_steps_due(),
        "review_requests": review_requests_due(),
        "reengage": reengagement_due(),
        "advocate_of_the_month": advocate_of_the_month_pick(),
    }
