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
    group = _group(connection)
    # Robust: a failure here is logged and the relay retries; the request never fails
    # after its data committed.
    transaction.on_commit(_Publish(message, group), robust=True)
    if group is not None:
        # The group's one UPDATE runs after every publish of the transaction: its
        # callback moves to the end, outside any savepoint (a rolled-back savepoint
        # drops its messages' publishes, never the UPDATE of the others).
        if group.entry in connection.run_on_commit:
            connection.run_on_commit.remove(group.entry)
        connection.run_on_commit.append(group.entry)
    return message


class _Group:
    """The messages of one transaction: published one by one, marked sent together."""

    def __init__(self, block, sids: set):
        self.block = block
        self.sent: list[int] = []
        self.failed: list[tuple[int, Exception]] = []
        # (savepoint ids, callback, robust): dropped only with the block itself.
        self.entry = (sids, self.flush, True)
        self.flushed = False

    def flush(self) -> None:
        self.flushed = True
        _mark(self.sent, self.failed)


def _group(connection) -> _Group | None:
    # The outermost atomic block that is not a test case's own: one transaction.
    index = next(
        (
            i
            for i, b in enumerate(connection.atomic_blocks)
            if not getattr(b, "_from_testcase", False)
        ),
        None,
    )
    if index is None:
        return None
    block = connection.atomic_blocks[index]
    # The block's own savepoint (none for a transaction's outermost block): rolling it
    # back drops the group's UPDATE with its messages.
    sid = connection.savepoint_ids[index - 1] if index else None
    group = getattr(connection, "_outbox_group", None)
    if (
        group is None
        or group.block is not block
        or group.flushed
        or group.entry not in connection.run_on_commit  # that transaction ended
    ):
        group = _Group(block, {sid} if sid else set())
        connection._outbox_group = group
    return group


class _Publish:
    """The on-commit publish of one message written claimed (see ``enqueue``)."""

    def __init__(self, message: OutboxMessage, group: _Group | None):
        self.message, self.group = message, group

    def __call__(self) -> None:
        message = self.message
        sent, failed = [], []
        try:
            _task(message.task).apply_async(args=message.args, kwargs=message.kwargs)
        except BROKER_ERRORS as exc:
            logger.warning("outbox %s (%s) not published yet: %s", message.pk, message.task, exc)
            failed.append((message.pk, exc))
        else:
            sent.append(message.pk)
        if self.group is None or self.group.flushed:
            _mark(sent, failed)
        else:
            self.group.sent += sent
            self.group.failed += failed


def _mark(sent: list[int], failed: list[tuple[int, Exception]]) -> None:
    if sent:
        # After every transaction that sends a task: plain SQL, the ORM's UPDATE cost
        # more CPU to compose than the database spends running it.
        connection = transaction.get_connection()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {OutboxMessage._meta.db_table}"  # noqa: S608 - fixed name
                " SET sent_at = %s, claimed_until = NULL, attempts = attempts + 1"
                f" WHERE id IN ({', '.join(['%s'] * len(sent))}) AND sent_at IS NULL",
                [connection.ops.adapt_datetimefield_value(timezone.now()), *sent],
            )
    for pk, exc in failed:
        # Released at once: the relay takes it from RELAY_AFTER on.
        OutboxMessage.objects.filter(pk=pk, sent_at__isnull=True).update(
            claimed_until=None, attempts=F("attempts") + 1, last_error=str(exc)[:300]
        )


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
