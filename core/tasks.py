"""Celery tasks of the plumbing: the outbox relay."""

from celery import shared_task
from celery.signals import worker_ready

from . import outbox


@shared_task(name="core.tasks.relay_outbox", acks_late=True, ignore_result=True)
def relay_outbox() -> int:
    """Beat task: publish the outbox messages whose on-commit publish did not happen."""
    sent = outbox.relay()
    outbox.purge()
    return sent


@worker_ready.connect(dispatch_uid="core.relay_outbox_on_start")
def relay_when_a_worker_starts(sender=None, **kwargs):
    # A worker that comes up (after a broker or worker outage) sends the backlog at once.
    outbox.relay()
