"""The weekly report: each program's managers get last week's numbers against the week before.

Once per (program, manager, week): the send is claimed on the manager's
``ReportSubscription`` row first (a conditional update), sent after the claim
commits, and the claim is released if the mail server refused it, so a retry
sends it and a duplicate task sends nothing. A manager opts out with the link
in the email (signed, one click) or in the admin.
"""

from datetime import date, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import translation

from advocacy.models import Program, ProgramMembership
from core.emails import templated_email_send

from . import dashboard, selectors
from .models import ReportSubscription

OPT_OUT_SALT = "measurement.weekly-report.opt-out"
REPORT_ROLES = [ProgramMembership.Role.MANAGER, ProgramMembership.Role.OWNER]
HEADLINE = {
    "funnel.clicks",
    "funnel.referrals",
    "funnel.purchases",
    "referral_conversion_rate",
    "referred_revenue",
    "reward_cost",
    "roi",
    "nps.score",
    "customers.new",
    "retention_rate",
    "repeat_purchase_rate",
}


def last_week(today: date) -> selectors.Period:
    """Monday to Sunday of the week before ``today``'s."""
    monday = today - timedelta(days=today.weekday() + 7)
    return selectors.Period(monday, monday + timedelta(days=6))


def recipients(program: Program) -> list[ProgramMembership]:
    """The program's managers and owners with an email who did not opt out."""
    opted_out = ReportSubscription.objects.filter(program=program, weekly_report=False)
    return list(
        ProgramMembership.objects.filter(program=program, role__in=REPORT_ROLES)
        .exclude(user__email="")
        .exclude(user_id__in=opted_out.values("user_id"))
        .select_related("user")
    )


def opt_out_token(program_id: int, user_id: int) -> str:
    return signing.dumps([program_id, user_id], salt=OPT_OUT_SALT)


def report_opt_out(*, token: str) -> ReportSubscription | None:
    try:
        program_id, user_id = signing.loads(token, salt=OPT_OUT_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    sub, _ = ReportSubscription.objects.update_or_create(
        program_id=program_id, user_id=user_id, defaults={"weekly_report": False}
    )
    return sub


def _claim(program_id: int, user_id: int, week: date) -> tuple[bool, date | None]:
    with transaction.atomic():
        sub, _ = ReportSubscription.objects.get_or_create(program_id=program_id, user_id=user_id)
        previous = sub.last_sent_week
        claimed = (
            ReportSubscription.objects.filter(pk=sub.pk, weekly_report=True)
            .filter(Q(last_sent_week__isnull=True) | Q(last_sent_week__lt=week))
            .update(last_sent_week=week)
        )
    return bool(claimed), previous


def report_context(program: Program, week: selectors.Period) -> dict:
    current = selectors.program_metrics(
        program=program, date_from=week.date_from, date_to=week.date_to, detail=False
    )
    before = week.previous()
    previous = selectors.program_metrics(
        program=program, date_from=before.date_from, date_to=before.date_to, detail=False
    )
    cards = [c for c in dashboard.cards(current, previous) if c.key in HEADLINE]
    query = f"?program={program.slug}&from={week.date_from}&to={week.date_to}"
    return {
        "program": program,
        "week": week,
        "cards": cards,
        "currency": program.currency,
        "dashboard_url": f"{settings.SITE_URL}{reverse('admin:index')}{query}",
    }


def report_language(program_id: int, user_id: int) -> str:
    """The manager's chosen language for this program's report, else the site's."""
    chosen = (
        ReportSubscription.objects.filter(program_id=program_id, user_id=user_id)
        .values_list("language", flat=True)
        .first()
    )
    return chosen or settings.LANGUAGE_CODE


def weekly_report_send(*, program_id: int, user_id: int, week: date) -> bool:
    """Send one manager the report of the week starting ``week`` (a Monday), at most once."""
    membership = (
        ProgramMembership.objects.filter(
            program_id=program_id, user_id=user_id, role__in=REPORT_ROLES
        )
        .select_related("program", "user")
        .first()
    )
    if membership is None or not membership.user.email:
        return False
    claimed, previous = _claim(program_id, user_id, week)
    if not claimed:
        return False
    period = selectors.Period(week, week + timedelta(days=6))
    language = report_language(program_id, user_id)
    with translation.override(language):  # the cards' labels are translated as built
        context = report_context(membership.program, period)
    context["opt_out_url"] = settings.SITE_URL + reverse(
        "measurement-report-opt-out", args=[opt_out_token(program_id, user_id)]
    )
    try:
        templated_email_send(
            to=membership.user.email,
            template="measurement/email/weekly_report",
            context=context,
            language=language,
            headers={"List-Unsubscribe": f"<{context['opt_out_url']}>"},
            kind="weekly_report",
            program_id=program_id,
        )
    except Exception:
        # Not sent: give the week back so the retry sends it.
        ReportSubscription.objects.filter(
            program_id=program_id, user_id=user_id, last_sent_week=week
        ).update(last_sent_week=previous)
        raise
    return True
