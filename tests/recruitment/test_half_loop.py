"""The recruitment half-loop with a real Celery worker on Redis and an SMTP sink:
import customers and their orders, score them, segment the likely advocates, invite
them, remind those who have not joined, one joins from the email's link, and shares.

Everything that is a task (the import, the rescoring, the campaign's sends) runs in the
worker process; the test only does what a manager, a customer and beat would do."""

import email
import re
import time
from datetime import timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from allauth.account.models import EmailAddress
from django.db import connection
from django.utils import timezone

from advocacy.models import Advocate
from recruitment import campaigns, imports
from recruitment import tasks as recruitment_tasks
from recruitment.models import Campaign, CampaignRecipient, Customer, ImportJob, Segment
from referrals import clicks
from referrals.models import Click
from tests.factories import UserFactory
from tests.test_celery_worker import Sink, _free_port
from tests.workers import start_worker, stop_worker, task_queue

pytestmark = pytest.mark.django_db(transaction=True)

LIKELY = 8  # customers with a rich, recent order history
OTHERS = 8  # customers who never ordered


def wait_until(predicate, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.close()  # see the worker's commits
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    return ("\n".join(",".join(r) for r in [header, *rows]) + "\n").encode()


def _import(program, kind: str, data: bytes) -> ImportJob:
    job = imports.import_check(program=program, kind=kind, filename=f"{kind}.csv", data=data)
    assert job.status == ImportJob.Status.CHECKED, job.errors
    return imports.import_start(job=job)


def _bodies(messages) -> list[tuple[str, str]]:
    """(recipient, text) of each message at the sink."""
    out = []
    for envelope in messages:
        message = email.message_from_bytes(envelope.content)
        parts = [message] if not message.is_multipart() else list(message.walk())
        text = "".join(
            p.get_payload(decode=True).decode()
            for p in parts
            if p.get_content_type() == "text/plain"
        )
        out.append((envelope.rcpt_tos[0], text))
    return out


def test_import_score_segment_invite_remind_join_share(
    require_postgres, require_broker, program, client, monkeypatch
):
    # Large imports run in Celery: make this one large enough to go there.
    monkeypatch.setattr(imports, "SYNC_ROWS", 0)
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        with task_queue() as queue:
            worker = start_worker(queue, EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}")
            try:
                _half_loop(program, client, sink)
            finally:
                stop_worker(worker)
    finally:
        smtp.stop()


def _half_loop(program, client, sink):
    # 1. Import: customers, then their order history, each through the worker.
    customers = [
        [f"c-{i}", f"customer{i}@example.com", f"Customer {i}", "true"]
        for i in range(LIKELY + OTHERS)
    ]
    job = _import(
        program,
        ImportJob.Kind.CUSTOMERS,
        _csv(["external_id", "email", "name", "marketing_consent"], customers),
    )
    wait_until(
        lambda: ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE,
        "the customer import",
    )
    recent = (timezone.now() - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    orders = [
        [f"o-{i}-{n}", "120.00", "EUR", f"c-{i}", recent] for i in range(LIKELY) for n in range(4)
    ]
    job = _import(
        program,
        ImportJob.Kind.ORDERS,
        _csv(["order_id", "amount", "currency", "customer_external_id", "occurred_at"], orders),
    )
    wait_until(
        lambda: ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE,
        "the order import",
    )
    assert Customer.objects.filter(program=program).count() == LIKELY + OTHERS

    # 2. Score: beat's rescoring task, in the worker.
    recruitment_tasks.rescore_customers.delay(program.pk)
    wait_until(
        lambda: not Customer.objects.filter(program=program, scored_at__isnull=True).exists(),
        "every customer scored",
    )
    likely = Customer.objects.filter(
        program=program, external_id__in=[f"c-{i}" for i in range(LIKELY)]
    )
    others = Customer.objects.filter(program=program).exclude(pk__in=likely)
    lowest_likely = min(c.score for c in likely)
    assert lowest_likely > max(c.score for c in others)

    # 3. Segment: the likely advocates, by score.
    segment = Segment.objects.create(
        program=program,
        name="Likely advocates",
        slug="likely",
        filters={"score_min": lowest_likely},
    )

    # 4. Campaign: an invitation and one reminder three days later.
    campaign = campaigns.campaign_create(
        program=program, name="Invite", segment=segment, reminders=1, reminder_after_days=3
    )
    wait_until(lambda: len(sink.messages) == LIKELY, "the invitations")
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == "done", "step 1 to finish")
    invited = {c.email for c in likely}
    sent = _bodies(sink.messages)
    assert {to for to, _ in sent} == invited

    # 5. Join: one customer follows the email's tracked link, signs up and joins.
    joiner = "customer0@example.com"
    text = next(body for to, body in sent if to == joiner)
    link = re.search(r"http://testserver(/recruit/i/[^\s/]+/)", text).group(1)
    answer = client.get(link)
    assert answer.status_code == 302 and f"email={joiner}".replace("@", "%40") in answer.url
    user = UserFactory(email=joiner)  # signed up and verified the address (allauth)
    EmailAddress.objects.create(user=user, email=joiner, verified=True, primary=True)
    client.force_login(user)
    assert client.post(f"/join/{program.slug}/", {"terms_version": program.terms_version})
    advocate = Advocate.objects.get(program=program, email=joiner)
    assert advocate.status == Advocate.Status.ACTIVE
    assert Customer.objects.get(program=program, email=joiner).advocate == advocate
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert rows.get(customer__email=joiner).state == CampaignRecipient.State.JOINED

    # 6. Beat, three days on: the reminder goes to the others, not to the one who joined.
    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1)):
        swept = campaigns.campaigns_sweep()
    assert swept["reminders"] == 1
    wait_until(lambda: len(sink.messages) == 2 * LIKELY - 1, "the reminders")
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).step_finished_at, "step 2 to finish")
    reminded = [to for to, _ in _bodies(sink.messages[LIKELY:])]
    assert sorted(reminded) == sorted(invited - {joiner})
    assert rows.get(customer__email=joiner).state == CampaignRecipient.State.JOINED
    assert set(rows.values_list("steps_sent", flat=True)) == {1, 2}

    # 7. The new advocate's first share: a friend follows their link.
    link = advocate.links.get()
    assert client.__class__().get(f"/r/{link.code}").status_code == 302
    clicks.buffer.flush()
    assert Click.objects.filter(advocate=advocate).count() == 1


@pytest.mark.django_db(transaction=False)
def test_an_invitee_who_joined_since_the_last_sweep_is_not_reminded(
    program, django_capture_on_commit_callbacks
):
    """Invitation-only: the join link makes an invited advocate, and joining later turns
    them active without a new enrolment, so only the sweep notices. It must notice before
    it sends the reminders (tasks run at once here, as on the embedded default)."""
    from django.core import mail

    from advocacy.services import advocate_join
    from recruitment import services

    program.invitation_only = True
    program.save()
    services.customers_upsert(
        program=program,
        rows=[(0, {"external_id": "c-0", "email": "ann@example.com", "marketing_consent": True})],
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.campaign_create(
            program=program, name="VIP", customers=program.customers.all(), reminder_after_days=3
        )
    assert [m.to[0] for m in mail.outbox] == ["ann@example.com"]
    recipient = CampaignRecipient.objects.get(campaign=campaign)
    campaigns.recipient_clicked(recipient_id=recipient.pk)  # an invited advocate now
    user = UserFactory(email="ann@example.com")
    EmailAddress.objects.create(user=user, email="ann@example.com", verified=True, primary=True)
    advocate_join(user=user, program=program)
    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1)):
        assert campaigns.campaigns_sweep()["joined"] == 1
    assert len(mail.outbox) == 1
    recipient.refresh_from_db()
    assert recipient.state == CampaignRecipient.State.JOINED
