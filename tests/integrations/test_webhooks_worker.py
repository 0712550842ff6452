"""A real Celery worker, fed through Redis, retrying a webhook until the receiver accepts it."""

import time

import pytest
from django.db import connection

from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import event_emit
from tests.workers import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def real_worker(require_postgres, require_broker):
    """A ``celery worker`` process on a queue of its own, retrying after 1 s."""
    with celery_worker(
        WEBHOOK_RETRY_DELAYS="1,1,1", WEBHOOK_ALLOW_PRIVATE_URLS="1", WEBHOOK_TIMEOUT_SECONDS="5"
    ) as proc:
        yield proc


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.close()  # see the worker's commits, not a stale snapshot
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_real_worker_retries_until_the_receiver_accepts(real_worker, program, receiver):
    receiver.fail_first = 2
    WebhookEndpoint.objects.create(program=program, url=receiver.url)

    event = event_emit(program=program, type="conversion.attributed", data={"conversion": {}})
    delivery = event.deliveries.get()

    def status():
        return WebhookDelivery.objects.get(pk=delivery.pk).status

    assert wait_until(lambda: status() == "delivered", timeout=20), (
        f"not delivered: {status()}, log in {real_worker.log.name}"
    )
    delivery.refresh_from_db()
    assert delivery.attempts == 3
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 500, 200]
    time.sleep(1.5)  # no duplicate attempt follows the delivery
    assert len(receiver.requests) == 3
