"""NPS surveys: an email with one-click 0-10 links, then a comment page.

A survey is a row per customer and sending; its email goes out at most once
(claim ``claimed_at``, send, record ``sent_at``; a crash in between leaves it
unsent rather than doubled). The answer goes through ``services.nps_record``,
which closes the loop: detractors open a follow-up in the admin, promoters are
invited when the program enables it.
"""

from django.db import transaction
from django.utils import timezone

from advocacy.emails import may_email
from advocacy.models import Program
from core import outbox

from . import services
from .emails import nps_survey_send
from .models import Customer, NpsResponse, NpsSurvey


def nps_surveys_create(*, program: Program, customers) -> int:
    """Create a survey for each customer (with consent, not unsubscribed) and send them."""
    from . import tasks

    ids = list(
        customers.filter(
            program=program,
            marketing_consent=True,
            unsubscribed_at__isnull=True,
            undeliverable_at__isnull=True,
        )
        .exclude(email="")
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        surveys = NpsSurvey.objects.bulk_create(
            [NpsSurvey(program=program, customer_id=pk) for pk in ids], batch_size=2000
        )
        for s in surveys:
            outbox.enqueue(tasks.send_nps_survey, s.pk)
    return len(surveys)


def nps_survey_deliver(*, survey_id: int) -> str:
    """Send one survey email once: "sent", "already", "skipped" or "missing"."""
    survey = NpsSurvey.objects.select_related("customer__advocate", "program").filter(pk=survey_id)
    survey = survey.first()
    if survey is None:
        return "missing"
    customer: Customer = survey.customer
    if (
        customer.unsubscribed_at
        or customer.undeliverable_at
        or not customer.marketing_consent
        or (customer.advocate is not None and not may_email(customer.advocate, "invitation"))
    ):
        NpsSurvey.objects.filter(pk=survey_id, claimed_at__isnull=True).update(
            skipped_reason="unsubscribed, bounced or no consent"
        )
        return "skipped"
    claimed = NpsSurvey.objects.filter(pk=survey_id, claimed_at__isnull=True).update(
        claimed_at=timezone.now()
    )
    if not claimed:
        return "already"
    try:
        nps_survey_send(survey=survey)
    except Exception:
        NpsSurvey.objects.filter(pk=survey_id, sent_at__isnull=True).update(claimed_at=None)
        raise
    NpsSurvey.objects.filter(pk=survey_id).update(sent_at=timezone.now())
    return "sent"


def nps_survey_answer(*, survey: NpsSurvey, score: int) -> NpsResponse:
    """The one-click answer; clicking another number on the same email changes it."""
    existing = NpsResponse.objects.filter(survey=survey).first()
    if existing is None:
        return services.nps_record(
            program=survey.program,
            score=score,
            customer_external_id=survey.customer.external_id,
            survey=survey,
        )
    if existing.score != score:
        category = NpsResponse.category_for(score)
        existing.score, existing.category = score, category
        if category == NpsResponse.Category.DETRACTOR and (
            existing.followup_status == NpsResponse.FollowUp.NONE
        ):
            existing.followup_status = NpsResponse.FollowUp.OPEN
        existing.save(update_fields=["score", "category", "followup_status"])
    return existing


def nps_comment_save(*, response: NpsResponse, comment: str) -> NpsResponse:
    NpsResponse.objects.filter(pk=response.pk).update(comment=comment[:5000])
    response.comment = comment[:5000]
    return response
