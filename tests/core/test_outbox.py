"""The outbox: what a committed change asked for reaches the broker once, through outages."""

from datetime import timedelta

import pytest
from celery.app.task import Task
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from core import outbox
from core.models import OutboxMessage
from rewards.models import Reward
from rewards.services import reward_issue
from tests.helpers import post_conversion


@pytest.fixture
def broker(monkeypatch):
    """The broker, switchable off; records what reached it."""

    class Broker:
        up = True
        received: list = []

    real = Task.apply_async

    def apply_async(task, args=None, kwargs=None, **options):
        if not Broker.up:
            raise BrokerDown("[Errno 111] Connection refused")
        Broker.received.append((task.name, list(args or [])))
        return real(task, args=args, kwargs=kwargs, **options)

    Broker.received = []
    monkeypatch.setattr(Task, "apply_async", apply_async)
    return Broker


def held_reward(advocate, hold_days=0):
    return reward_issue(
        program=advocate.program,
        advocate=advocate,
        key=f"outbox-{Reward.objects.count()}",
        reason="test",
        amount_minor=500,
        currency="EUR",
        hold_days=hold_days,
    )


def test_a_task_goes_out_after_commit_and_is_marked_sent(
    advocate, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reward = held_reward(advocate)
        assert broker.received == []  # not before the commit
    assert broker.received[0] == ("rewards.tasks.mature_reward", [reward.pk])
    message = OutboxMessage.objects.get(task="rewards.tasks.mature_reward")
    assert message.sent_at is not None and message.attempts == 1
    reward.refresh_from_db()
    assert reward.status == "available"  # the task ran (in-process here)


def test_a_rolled_back_change_sends_nothing(advocate, broker, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        held_reward(advocate)
        raise RuntimeError("the change fails after the enqueue")
    assert broker.received == []
    assert not OutboxMessage.objects.exists()


def test_with_the_broker_down_the_api_answers_and_the_relay_sends_later(
    api, link, broker, program, django_capture_on_commit_callbacks, time_machine
):
    program.hold_days = 0
    program.save()
    broker.up = False
    with django_capture_on_commit_callbacks(execute=True):
        response = post_conversion(api, referral_code=link.code)
    assert response.status_code == 201
    reward = Reward.objects.get(recipient="advocate")
    assert reward.status == "pending"
    waiting = OutboxMessage.objects.get(task="rewards.tasks.mature_reward")
    assert (waiting.sent_at, waiting.attempts) == (None, 1)
    assert "Connection refused" in waiting.last_error

    assert outbox.relay() == 0  # young messages are left to their own publish
    time_machine.move_to(timezone.now() + timedelta(seconds=10))
    assert outbox.relay() == 0  # still down: kept, not lost
    broker.up = True
    assert outbox.relay() == 2  # the reward's maturing and the order's nurture follow-up
    assert outbox.relay() == 0  # out exactly once
    assert broker.received.count(("rewards.tasks.mature_reward", [reward.pk])) == 1
    conversion_id = reward.conversion_id
    assert (
        broker.received.count(("nurture.tasks.conversion_followups", [conversion_id, False])) == 1
    )
    reward.refresh_from_db()
    assert reward.status == "available"


def test_a_message_another_process_is_publishing_is_left_alone(advocate, broker):
    message = OutboxMessage.objects.create(task="rewards.tasks.mature_reward", args=[1])
    OutboxMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() + timedelta(seconds=30)
    )
    assert outbox.publish(message.pk) is False
    assert broker.received == []
    OutboxMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )  # that process died: its claim expires
    assert outbox.publish(message.pk) is True
    assert outbox.publish(message.pk) is False
    assert broker.received == [("rewards.tasks.mature_reward", [1])]


def test_old_sent_messages_are_purged(broker, db, time_machine):
    message = OutboxMessage.objects.create(task="rewards.tasks.mature_rewards")
    outbox.publish(message.pk)
    time_machine.move_to(timezone.now() + timedelta(days=8))
    unsent = OutboxMessage.objects.create(task="rewards.tasks.mature_rewards")
    assert outbox.purge() == 1
    assert list(OutboxMessage.objects.all()) == [unsent]


def test_one_transactions_messages_go_out_and_are_marked_with_one_update(
    advocate, broker, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        first = outbox.enqueue("rewards.tasks.mature_rewards")
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox.enqueue("rewards.tasks.run_payouts")  # its savepoint is rolled back
            raise RuntimeError
        second = outbox.enqueue("rewards.tasks.mature_rewards")
        assert OutboxMessage.objects.filter(claimed_until__isnull=False).count() == 2
    with CaptureQueriesContext(connection) as ctx:
        for callback in callbacks:
            callback()
    assert [name for name, _ in broker.received] == ["rewards.tasks.mature_rewards"] * 2
    # (The tasks themselves run here too, in-process: only the outbox's statements count.)
    outbox_sql = [q["sql"] for q in ctx.captured_queries if "core_outboxmessage" in q["sql"]]
    assert [sql.split()[0] for sql in outbox_sql] == ["UPDATE"]
    for message in (first, second):
        message.refresh_from_db()
        assert message.sent_at is not None and message.claimed_until is None
    assert OutboxMessage.objects.count() == 2  # the rolled-back one was never written
