"""The outbox: work that leaves a transaction is a row written in that transaction.

``enqueue(task, *args)`` writes an ``OutboxMessage`` beside the change that
needs the task, and publishes it to the broker once the transaction commits.
A rolled-back change sends nothing. If the broker is down at commit, the row
stays: the API still answers, and ``relay()`` (a beat task every few seconds,
and each worker when it starts) publishes it when the broker is back. A claim
on the row keeps the on-commit publish and the relay from both sending it.

The messages of one transaction are written already claimed by it (for
``CLAIM``) and published together after its commit, then marked sent with one
``UPDATE``: a request that enqueues several tasks pays one write after its
commit, not three per task. A process that dies between its commit and the
publish leaves its messages to the relay once their claim expires.
"""

import logging
from datetime import timedelta

from celery import current_app
from celery.exceptions import NotRegistered
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import KombuError

from .models import OutboxMessage

logger = logging.getLogger(__name__)

# While one process publishes a message, others leave it alone for this long.
CLAIM = timedelta(seconds=30)
# The relay leaves messages this young to their own on-commit publish.
RELAY_AFTER = timedelta(seconds=5)
# Errors that mean "the broker is not reachable now": try again later.
BROKER_ERRORS = (KombuError, OSError)


def enqueue(task, *args, **kwargs) -> OutboxMessage:
    """Send ``task(*args, **kwargs)`` to the broker after the current transaction commits."""
    name = task if isinstance(task, str) else task.name
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        # Autocommit: the row is committed at once; publish it now.
        message = OutboxMessage.objects.create(task=name, args=list(args), kwargs=kwargs)
        publish(message.pk)
        return message
    message = OutboxMessage.objects.create(
        task=name, args=list(args), kwargs=kwargs, claimed_until=timezone.now() + CLAIM
    )
    _batch(connection).messages.append(message)
    return message


class _Batch:
    """The messages of one transaction, published by one on-commit callback."""

    def __init__(self):
        self.messages: list[OutboxMessage] = []

    def __call__(self) -> None:
        publish_claimed(self.messages)


def _batch(connection) -> _Batch:
    batch = getattr(connection, "_outbox_batch", None)
    # A batch whose callback is gone belongs to a transaction (or savepoint) that
    # ended: start another. Rows of a rolled-back savepoint that stay in a live batch
    # are gone from the table, and marking them sent touches nothing.
    if batch is None or not any(func is batch for _, func, _ in connection.run_on_commit):
        batch = _Batch()
        connection._outbox_batch = batch
        # Robust: a failure here is logged and the relay retries; the request never
        # fails after its data committed.
        transaction.on_commit(batch, robust=True)
    return batch


def publish_claimed(messages: list[OutboxMessage]) -> int:
    """Publish messages this process wrote already claimed; returns how many went out."""
    sent, failed = [], []
    for message in messages:
        try:
            _task(message.task).apply_async(args=message.args, kwargs=message.kwargs)
        except BROKER_ERRORS as exc:
            logger.warning("outbox %s (%s) not published yet: %s", message.pk, message.task, exc)
            failed.append((message, exc))
            continue
        sent.append(message.pk)
    if sent:
        OutboxMessage.objects.filter(pk__in=sent, sent_at__isnull=True).update(
            sent_at=timezone.now(), claimed_until=None, attempts=F("attempts") + 1
        )
    for message, exc in failed:
        # Released at once: the relay takes it from RELAY_AFTER on.
        OutboxMessage.objects.filter(pk=message.pk, sent_at__isnull=True).update(
            claimed_until=None, attempts=F("attempts") + 1, last_error=str(exc)[:300]
        )
    return len(sent)


def _task(name: str):
    try:
        return current_app.tasks[name]
    except NotRegistered:
        # Web processes import only the tasks their code uses: load every app's
        # tasks.py (Celery's autodiscovery) for a task named by string.
        current_app.loader.import_default_modules()
        return current_app.tasks[name]


def publish(message_id: int) -> bool:
    """Publish one message if nobody else is; True when it went out now."""
    now = timezone.now()
    claimed = (
        OutboxMessage.objects.filter(pk=message_id, sent_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + CLAIM)
    )
    if not claimed:
        return False
    message = OutboxMessage.objects.get(pk=message_id)
    try:
        _task(message.task).apply_async(args=message.args, kwargs=message.kwargs)
    except BROKER_ERRORS as exc:
        logger.warning("outbox %s (%s) not published yet: %s", message.pk, message.task, exc)
        OutboxMessage.objects.filter(pk=message.pk).update(
            claimed_until=None, attempts=message.attempts + 1, last_error=str(exc)[:300]
        )
        return False
    OutboxMessage.objects.filter(pk=message.pk).update(
        sent_at=timezone.now(), claimed_until=None, attempts=message.attempts + 1
    )
    return True


def relay(*, limit: int = 500) -> int:
    """Publish what the on-commit publish could not (broker down, process died)."""
    cutoff = timezone.now() - RELAY_AFTER
    ids = list(
        OutboxMessage.objects.filter(sent_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in ids:
        try:
            if publish(pk):
                sent += 1
        except DatabaseError:
            logger.exception("outbox relay: database error at message %s", pk)
            break
    if sent:
        logger.info("outbox relay published %s message(s)", sent)
    return sent


def purge(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete messages sent long ago (the table would grow forever otherwise)."""
    deleted, _ = OutboxMessage.objects.filter(sent_at__lt=timezone.now() - older_than).delete()
    return deleted
