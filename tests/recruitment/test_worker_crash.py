"""A real worker on Redis killed mid-campaign: each recipient gets at most one email per
step, and exactly one unless the kill fell between its claim and its record.

Needs PostgreSQL and Redis (skipped on SQLite). 1,500 recipients by default; the
issue's 10,000: ``RECRUITMENT_CRASH_RECIPIENTS=10000`` (figures in bench/README.md). The
SMTP sink listens on a free port, or on ``RECRUITMENT_CRASH_SMTP_PORT``.
"""

import os
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from advocacy.models import Program
from recruitment import campaigns
from recruitment.models import Campaign, CampaignRecipient, Customer
from tests.test_celery_worker import Sink, _free_port
from tests.workers import start_worker, stop_worker, task_queue

pytestmark = pytest.mark.django_db(transaction=True)
# 10,000 in the acceptance run: RECRUITMENT_CRASH_RECIPIENTS=10000.
N = int(os.environ.get("RECRUITMENT_CRASH_RECIPIENTS", "1500"))


class CountingSink(Sink):
    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.rcpt_tos[0])
        return "250 OK"


def wait_until(predicate, timeout=900.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.close()
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_campaign_sends_no_recipient_twice(
    require_postgres, require_broker, program: Program
):
    Customer.objects.bulk_create(
        [
            Customer(program=program, external_id=f"c-{i}", email=f"c{i}@example.com",
                     email_normalized=f"c{i}@example.com", marketing_consent=True)
            for i in range(N)
        ],
        batch_size=5000,
    )  # fmt: skip
    started = time.monotonic()
    sink = CountingSink()
    port = int(os.environ.get("RECRUITMENT_CRASH_SMTP_PORT", "0")) or _free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    env = {
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_RESTORE_INTERVAL": "1",
        "CELERY_RESTORE_THROTTLE": "1",
    }
    try:
        with task_queue() as queue:
            first = start_worker(queue, **env)
            try:
                campaign = campaigns.campaign_create(
                    program=program, name="Crash", customers=Customer.objects.all()
                )
                wait_until(lambda: len(sink.messages) >= N // 3, what="a third of the sends")
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            finally:
                stop_worker(first)
            killed_at = len(sink.messages)
            assert killed_at < N, "the campaign ended before the kill"

            second = start_worker(queue, **env)
            try:
                wait_until(
                    lambda: Campaign.objects.get(pk=campaign.pk).status == "done",
                    what="the redelivered task to finish the campaign",
                )
            finally:
                stop_worker(second)
    finally:
        time.sleep(0.5)
        smtp.stop()

    per_address = Counter(sink.messages)
    assert max(per_address.values()) == 1, per_address.most_common(3)
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    sent = set(rows.filter(steps_sent=1).values_list("customer__email", flat=True))
    interrupted = set(
        rows.filter(claimed_step=1, steps_sent=0).values_list("customer__email", flat=True)
    )
    assert len(interrupted) <= 1  # one worker killed: at most the row it was sending
    assert sent | interrupted == {f"c{i}@example.com" for i in range(N)}
    assert sent <= set(per_address)
    assert set(per_address) <= sent | interrupted
    # The sweep settles the interrupted row as failed, and nothing is sent again.
    with time_machine.travel(timezone.now() + campaigns.CLAIM_LEASE + timedelta(seconds=5)):
        assert campaigns.campaigns_sweep()["interrupted"] == len(interrupted)
    # Every address ends sent or failed (the interrupted one), none queued or twice.
    states = dict(rows.values_list("state").annotate(n=Count("pk")).order_by())
    assert states == {"sent": len(sent), **({"failed": len(interrupted)} if interrupted else {})}
    assert len(sink.messages) == len(per_address) == len(sent) + len(sink_only(interrupted, sink))
    print(
        f"\n{N} recipients, killed after {killed_at} messages at the sink; at the end "
        f"{len(sink.messages)} messages to {len(per_address)} addresses (most to one "
        f"address: {max(per_address.values())}), sent {len(sent)}, interrupted and "
        f"marked failed {len(interrupted)}, in {time.monotonic() - started:.0f} s"
    )


def sink_only(interrupted: set, sink) -> set:
    """Interrupted rows whose message reached the sink before the kill."""
    return interrupted & set(sink.messages)
