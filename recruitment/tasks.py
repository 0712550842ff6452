"""Celery tasks of recruitment: campaign fan-out, the sweep, rescoring, NPS surveys, imports."""

import logging
import smtplib
import time

from celery import current_app, shared_task
from django.db import OperationalError

from advocacy.models import Program

from . import campaigns, imports, learned, nps, scoring
from .models import Customer, ImportJob

logger = logging.getLogger(__name__)

# One task run sends batches for at most this long, then hands over to a new task
# (a worker restart loses at most this much progress, which the claims make safe).
RUN_SECONDS = 30
RESCORE_BATCH = 1000


@shared_task(
    name="recruitment.tasks.campaign_step_start",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=5,
)
def campaign_step_start(campaign_id: int, step: int) -> bool:
    return campaigns.campaign_step_start(campaign_id=campaign_id, step=step)


@shared_task(
    name="recruitment.tasks.campaign_send_batch",
    bind=True,
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError, OperationalError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def campaign_send_batch(self, campaign_id: int, step: int, after_pk: int) -> str:
    """Send batches of one campaign step, paged by pk; continues in a new task."""
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        nxt = campaigns.campaign_batch_send(campaign_id=campaign_id, step=step, after_pk=after_pk)
        if nxt is None:
            return "done"
        after_pk, wait = nxt
        if wait:
            if current_app.conf.task_always_eager:
                # In-process: no timer to wait on; the beat sweep resumes the step.
                return "rate-limited"
            campaign_send_batch.apply_async((campaign_id, step, after_pk), countdown=wait)
            return "rate-limited"
        if time.monotonic() > deadline:
            campaign_send_batch.apply_async((campaign_id, step, after_pk))
            return "continued"


@shared_task(name="recruitment.tasks.campaigns_sweep", acks_late=True)
def campaigns_sweep() -> dict:
    """Beat: start due campaigns and reminders, mark joins, settle interrupted sends."""
    return campaigns.campaigns_sweep()


@shared_task(
    name="recruitment.tasks.rescore_customers",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=3,
)
def rescore_customers(program_id: int | None = None, after_pk: int = 0) -> int:
    """Beat: rescore every customer, one batch per task, paged by pk."""
    if program_id is None:
        for pk in Program.objects.values_list("pk", flat=True):
            rescore_customers.delay(pk, 0)
        return 0
    program = Program.objects.filter(pk=program_id).first()
    if program is None:
        return 0
    ids = list(
        Customer.objects.filter(program=program, pk__gt=after_pk)
        .order_by("pk")
        .values_list("pk", flat=True)[:RESCORE_BATCH]
    )
    if not ids:
        return 0
    done = scoring.customers_rescore(program=program, customer_ids=ids)
    if len(ids) == RESCORE_BATCH:
        rescore_customers.delay(program_id, ids[-1])
    return done


@shared_task(
    name="recruitment.tasks.send_nps_survey",
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    max_retries=5,
)
def send_nps_survey(survey_id: int) -> str:
    return nps.nps_survey_deliver(survey_id=survey_id)


@shared_task(
    name="recruitment.tasks.import_run", acks_late=True, time_limit=3600, soft_time_limit=3500
)
def import_run(job_id: int) -> str:
    """A large CSV/XLSX import, in one transaction (see ``recruitment.imports``).

    Redelivered after its worker died, it retries the interrupted import whole.
    """
    done = imports.import_run(job_id=job_id)
    if done == "not-queued":
        job = ImportJob.objects.filter(pk=job_id).first()
        if job is not None and imports.import_interrupted(job):
            return imports.import_retry(job=job).status
    return done


@shared_task(
    name="recruitment.tasks.train_advocate_model",
    acks_late=True,
    time_limit=1800,
    soft_time_limit=1700,
)
def train_advocate_model(model_id: int) -> str:
    """Train a program's learned advocate model (see ``recruitment.learned``)."""
    return learned.advocate_model_train(model_id=model_id)
