"""A real Celery worker, fed through Redis, sending email to an SMTP sink."""

import socket
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from advocacy.models import Advocate
from referrals.invitations import advocate_invite
from rewards.models import LedgerEntry, Reward
from rewards.tasks import mature_rewards
from tests.helpers import post_conversion
from tests.workers import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_sink():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


@pytest.fixture
def real_worker(require_postgres, require_broker, smtp_sink):
    """A ``celery worker`` process on a queue of its own, on this test's database."""
    with celery_worker(EMAIL_URL=f"smtp://127.0.0.1:{smtp_sink[1]}") as proc:
        yield proc


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.close()  # see the worker's commits, not a stale snapshot
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_real_worker_emails_the_invitation_once(real_worker, smtp_sink, program):
    sink, _ = smtp_sink
    advocate = advocate_invite(program=program, email="invitee@example.com", name="Ivy")
    assert advocate.status == Advocate.Status.INVITED

    assert wait_until(
        lambda: Advocate.objects.get(pk=advocate.pk).invitation_sent_at is not None
    ), "the worker did not send the invitation"
    assert wait_until(lambda: len(sink.messages) == 1)
    message = sink.messages[0]
    assert message.rcpt_tos == ["invitee@example.com"]
    assert b"/join/acme-friends/" in message.content

    # Asking again (a duplicate task) sends nothing more.
    advocate_invite(program=program, email="invitee@example.com")
    from referrals.tasks import send_invitation

    send_invitation.delay(advocate.pk)
    time.sleep(2)
    assert len(sink.messages) == 1


def test_a_real_worker_matures_due_rewards(real_worker, api, link):
    response = post_conversion(api, referral_code=link.code)
    assert response.status_code == 201
    Reward.objects.update(available_at=timezone.now() - timedelta(seconds=1))

    mature_rewards.delay()

    assert wait_until(lambda: Reward.objects.get().status == Reward.Status.AVAILABLE)
    assert LedgerEntry.objects.filter(bucket="available").count() == 1
