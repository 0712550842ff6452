"""Invitation campaigns: fan-out once per step, reminders, limits, tracking, unsubscribe."""

from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.utils import timezone

from advocacy.emails import email_unsubscribe_all
from advocacy.models import Advocate
from advocacy.services import advocate_enroll, advocate_join
from recruitment import campaigns, emails, selectors, services
from recruitment.models import Campaign, CampaignRecipient, InvitationText, RecruitmentSettings
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = CampaignRecipient.State


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return run


def verified_user(email):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def customers(program, n, **extra):
    rows = [
        (i, {"external_id": f"c-{i}", "email": f"c{i}@example.com", "name": f"C{i}",
             "marketing_consent": True, **extra})
        for i in range(n)
    ]  # fmt: skip
    services.customers_upsert(program=program, rows=rows)
    return program.customers.all()


def numbers(campaign):
    campaign.refresh_from_db()
    return selectors.campaign_numbers(campaign=campaign)


def test_each_recipient_gets_the_invitation_once_also_when_the_step_runs_twice(
    program, run_on_commit
):
    campaign = run_on_commit(
        campaigns.campaign_create, program=program, name="Spring", customers=customers(program, 5)
    )
    assert len(mail.outbox) == 5
    # A redelivered task, a second chain, a second start: nothing more is sent.
    campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=0)
    assert campaigns.campaign_step_start(campaign_id=campaign.pk, step=1) is False
    for r in CampaignRecipient.objects.all():
        assert campaigns.recipient_send(recipient=r, step=1) == "taken"
    assert len(mail.outbox) == 5
    assert sorted(m.to[0] for m in mail.outbox) == [f"c{i}@example.com" for i in range(5)]
    assert numbers(campaign) | {"id": 0} == numbers(campaign) | {
        "id": 0, "status": "done", "step": 1, "recipients": 5, "sent": 5, "failed": 0,
        "skipped_no_consent": 0, "opened": 0, "clicked": 0, "joined": 0, "unsubscribed": 0,
        "bounced": 0, "queued": 0,
    }  # fmt: skip


def test_a_worker_dying_between_claim_and_record_is_not_resent(program, monkeypatch):
    customers(program, 3)
    campaign = campaigns.campaign_create(
        program=program, name="x", customers=program.customers.all()
    )
    Campaign.objects.filter(pk=campaign.pk).update(step=1, status="sending")
    victim = CampaignRecipient.objects.order_by("pk").first()

    def die(*, recipient, step, **kwargs):
        if recipient.pk == victim.pk:
            raise SystemExit("worker killed")  # after the claim, before the record
        real(recipient=recipient, step=step, **kwargs)

    real = campaigns.invitation_send
    monkeypatch.setattr(campaigns, "invitation_send", die)
    with pytest.raises(SystemExit):
        campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=0)
    monkeypatch.setattr(campaigns, "invitation_send", real)
    # The redelivered task sends the rest, and leaves the interrupted one alone.
    campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=0)
    assert len(mail.outbox) == 2
    assert victim.customer.email not in [m.to[0] for m in mail.outbox]
    with time_machine.travel(timezone.now() + campaigns.CLAIM_LEASE + timedelta(seconds=1)):
        campaigns.campaigns_sweep()
    victim.refresh_from_db()
    assert victim.state == S.FAILED and "interrupted" in victim.last_error
    campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=0)
    assert len(mail.outbox) == 2
    assert numbers(campaign)["sent"] == 2 and numbers(campaign)["failed"] == 1


def test_no_consent_and_unsubscribed_are_skipped_and_counted(program, run_on_commit):
    customers(program, 2)
    services.customers_upsert(
        program=program,
        rows=[(0, {"external_id": "nc", "email": "nc@example.com", "marketing_consent": False})],
    )
    alice, _ = advocate_enroll(
        program=program, email="alice@example.com", status=Advocate.Status.INVITED
    )
    services.customers_upsert(
        program=program,
        rows=[(0, {"external_id": "a", "email": "alice@example.com", "marketing_consent": True})],
    )
    email_unsubscribe_all(advocate=alice)
    campaign = run_on_commit(
        campaigns.campaign_create, program=program, name="x", customers=program.customers.all()
    )
    n = numbers(campaign)
    assert (n["recipients"], n["sent"], n["skipped_no_consent"], n["unsubscribed"]) == (4, 2, 1, 1)
    assert len(mail.outbox) == 2


def test_active_advocates_are_not_invited(program, advocate, run_on_commit):
    customers(program, 1)
    services.customers_upsert(
        program=program,
        rows=[
            (
                0,
                {
                    "external_id": "cust-alice",
                    "email": "alice@example.com",
                    "marketing_consent": True,
                },
            )
        ],
    )
    campaign = run_on_commit(
        campaigns.campaign_create, program=program, name="x", customers=program.customers.all()
    )
    assert numbers(campaign)["recipients"] == 1


def test_reminders_go_after_d_days_only_to_who_has_not_joined(program, run_on_commit):
    customers(program, 3)
    campaign = run_on_commit(
        campaigns.campaign_create,
        program=program,
        name="x",
        customers=program.customers.all(),
        reminders=1,
        reminder_after_days=3,
    )
    assert len(mail.outbox) == 3
    # c0 joins through the tracked link; c1 unsubscribes with one click.
    r0, r1, _ = CampaignRecipient.objects.order_by("pk")
    campaigns.recipient_clicked(recipient_id=r0.pk)
    user = verified_user("c0@example.com")
    advocate_join(user=user, program=program)
    campaigns.customer_unsubscribe(customer_id=r1.customer_id)
    campaigns.campaigns_sweep()
    assert len(mail.outbox) == 3  # not yet D days
    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1)):
        campaigns.campaigns_sweep()
        campaigns.campaigns_sweep()  # a second sweep sends nothing more
    assert [m.to[0] for m in mail.outbox[3:]] == ["c2@example.com"]
    assert "waiting" in mail.outbox[3].subject
    n = numbers(campaign)
    assert (n["clicked"], n["joined"], n["unsubscribed"], n["step"]) == (1, 1, 1, 2)
    with time_machine.travel(timezone.now() + timedelta(days=30)):
        campaigns.campaigns_sweep()
    assert len(mail.outbox) == 4  # one reminder only


def test_the_open_pixel_join_link_and_unsubscribe_work_from_the_email(
    client, program, run_on_commit
):
    program.invitation_only = True
    program.open_enrollment = False
    program.save()
    customers(program, 1)
    campaign = run_on_commit(
        campaigns.campaign_create, program=program, name="x", customers=program.customers.all()
    )
    message = mail.outbox[0]
    html = message.alternatives[0][0]
    pixel = html.split('src="')[1].split('"')[0].replace("http://testserver", "")
    assert client.get(pixel)["Content-Type"] == "image/gif"
    assert numbers(campaign)["opened"] == 1
    join = next(line for line in message.body.splitlines() if "/recruit/i/" in line)
    resp = client.get(join.replace("http://testserver", ""))
    assert resp.status_code == 302 and "/join/" in resp["Location"]
    # Invitation-only: the click made them an invited advocate, so they can join.
    invited = Advocate.objects.get(email="c0@example.com")
    assert invited.status == Advocate.Status.INVITED
    advocate_join(user=verified_user("c0@example.com"), program=program)
    campaigns.campaigns_sweep()
    assert numbers(campaign)["joined"] == 1
    unsubscribe = (
        message.extra_headers["List-Unsubscribe"].strip("<>").replace("http://testserver", "")
    )
    assert client.get(unsubscribe).status_code == 200
    assert client.post(unsubscribe).status_code == 200
    assert program.customers.get().unsubscribed_at is not None
    assert client.get("/recruit/u/forged/").status_code == 400


def test_chosen_copy_for_invitation_only_and_vip_programs_and_texts_per_language(
    program, run_on_commit
):
    program.vip = True
    program.save()
    services.customers_upsert(
        program=program,
        rows=[
            (0, {"external_id": "en", "email": "en@example.com", "marketing_consent": True}),
            (
                1,
                {
                    "external_id": "sv",
                    "email": "sv@example.com",
                    "marketing_consent": True,
                    "locale": "sv",
                },
            ),
            (
                2,
                {
                    "external_id": "nb",
                    "email": "nb@example.com",
                    "marketing_consent": True,
                    "locale": "nb",
                },
            ),
        ],
    )
    InvitationText.objects.create(
        program=program, language="nb", subject="Hei {name}!", body="Bli med: {join_url}"
    )
    run_on_commit(
        campaigns.campaign_create, program=program, name="x", customers=program.customers.all()
    )
    by_to = {m.to[0]: m for m in mail.outbox}
    assert "you were chosen" in by_to["en@example.com"].subject
    assert "utvald" in by_to["sv@example.com"].subject
    assert by_to["nb@example.com"].subject == "Hei nb!"
    assert "/recruit/i/" in by_to["nb@example.com"].body


def test_the_send_rate_is_per_program_and_minute(program):
    RecruitmentSettings.objects.create(program=program, send_rate_per_minute=3)
    assert campaigns.send_quota_take(program=program, wanted=2) == 2
    assert campaigns.send_quota_take(program=program, wanted=2) == 1
    assert campaigns.send_quota_take(program=program, wanted=2) == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert campaigns.send_quota_take(program=program, wanted=5) == 3


def test_a_rate_limited_batch_resumes_where_it_stopped(program):
    RecruitmentSettings.objects.create(program=program, send_rate_per_minute=2)
    customers(program, 5)
    campaign = campaigns.campaign_create(
        program=program, name="x", customers=program.customers.all()
    )
    Campaign.objects.filter(pk=campaign.pk).update(step=1, status="sending")
    with time_machine.travel("2026-07-01 12:00:10Z", tick=False):
        after, wait = campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=0)
        assert len(mail.outbox) == 2 and wait == 50
    with time_machine.travel("2026-07-01 12:01:00Z", tick=False):
        after, wait = campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=after)
    with time_machine.travel("2026-07-01 12:02:00Z", tick=False):
        assert campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=after)
        assert campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=0) is None
    assert sorted(m.to[0] for m in mail.outbox) == [f"c{i}@example.com" for i in range(5)]


def test_a_scheduled_campaign_starts_when_due(program):
    customers(program, 1)
    campaign = campaigns.campaign_create(
        program=program, name="x", customers=program.customers.all(),
        send_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    campaigns.campaigns_sweep()
    assert len(mail.outbox) == 0
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
        campaigns.campaigns_sweep()
    assert len(mail.outbox) == 1
    assert emails.pk_from_token("bad", emails.INVITE_SALT) is None
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
