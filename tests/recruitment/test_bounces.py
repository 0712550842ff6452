"""Bounces and complaints: the webhook and SMTP refusals mark the address undeliverable,
campaign steps and surveys skip it from then on, and the campaign counts them."""

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from advocacy.models import AuditAction, AuditLog
from recruitment import campaigns, emails, nps, selectors, services
from recruitment.models import Campaign, CampaignRecipient, Customer, NpsSurvey
from tests.recruitment.test_campaigns import customers, numbers

pytestmark = pytest.mark.django_db
S = CampaignRecipient.State
SECRET = "bounce-secret"
URL = "/webhooks/email/bounces"


@pytest.fixture
def hook(settings):
    settings.EMAIL_WEBHOOK_SECRET = SECRET
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    return client


def sent_campaign(program, django_capture_on_commit_callbacks, n=3, reminders=1):
    with django_capture_on_commit_callbacks(execute=True):
        return campaigns.campaign_create(
            program=program, name="Spring", customers=customers(program, n), reminders=reminders
        )


def test_a_hard_bounce_marks_the_address_and_counts_in_the_campaign(
    program, hook, django_capture_on_commit_callbacks
):
    campaign = sent_campaign(program, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 3
    body = {"events": [{"type": "bounce", "email": "C1@Example.com", "reason": "550 no user"}]}
    answer = hook.post(URL, body, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"marked": 1, "ignored": 0, "errors": []}
    customer = Customer.objects.get(external_id="c-1")
    assert customer.undeliverable_at is not None
    assert customer.undeliverable_reason == "bounce: 550 no user"
    assert CampaignRecipient.objects.get(customer=customer).state == S.BOUNCED
    assert numbers(campaign)["bounced"] == 1
    assert AuditLog.objects.filter(
        action=AuditAction.CUSTOMER_EMAIL_BOUNCED, object_id=str(customer.pk)
    ).exists()
    # The same report again (providers retry) changes nothing.
    assert hook.post(URL, body, format="json").json()["marked"] == 0
    assert AuditLog.objects.filter(action=AuditAction.CUSTOMER_EMAIL_BOUNCED).count() == 1

    # The reminder goes to the other two only.
    mail.outbox.clear()
    assert campaigns.campaign_step_start(campaign_id=campaign.pk, step=2)
    assert sorted(m.to[0] for m in mail.outbox) == ["c0@example.com", "c2@example.com"]


def test_later_campaigns_and_surveys_skip_the_address_and_count_it_as_bounced(
    program, hook, django_capture_on_commit_callbacks
):
    customers(program, 3)
    hook.post(URL, {"events": [{"type": "bounce", "email": "c0@example.com"}]}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.campaign_create(
            program=program, name="Later", customers=program.customers.all()
        )
    assert sorted(m.to[0] for m in mail.outbox) == ["c1@example.com", "c2@example.com"]
    assert numbers(campaign)["bounced"] == 1
    assert nps.nps_surveys_create(program=program, customers=program.customers.all()) == 2
    assert not NpsSurvey.objects.filter(customer__external_id="c-0").exists()


def test_a_new_address_from_the_merchant_clears_the_bounce(program, hook):
    customers(program, 1)
    hook.post(URL, {"events": [{"type": "bounce", "email": "c0@example.com"}]}, format="json")
    services.customers_upsert(
        program=program, rows=[(0, {"external_id": "c-0", "name": "Renamed"})]
    )
    assert Customer.objects.get().undeliverable_at is not None  # same address: still marked
    services.customers_upsert(
        program=program, rows=[(0, {"external_id": "c-0", "email": "new@example.com"})]
    )
    assert Customer.objects.get().undeliverable_at is None


def test_a_complaint_unsubscribes_and_a_soft_bounce_changes_nothing(
    program, hook, django_capture_on_commit_callbacks
):
    campaign = sent_campaign(program, django_capture_on_commit_callbacks)
    token = emails.token_for(CampaignRecipient.objects.get(customer__external_id="c-2").pk,
                             emails.INVITE_SALT)  # fmt: skip
    answer = hook.post(
        URL,
        {
            "events": [
                {"type": "bounce", "bounce_type": "soft", "email": "c0@example.com"},
                {"type": "complaint", "recipient": token},
                {"type": "bounce"},
            ]
        },
        format="json",
    )
    result = answer.json()
    assert (result["marked"], result["ignored"]) == (1, 1)
    assert [e["index"] for e in result["errors"]] == [2]
    assert Customer.objects.get(external_id="c-0").undeliverable_at is None
    complainer = Customer.objects.get(external_id="c-2")
    assert complainer.unsubscribed_at is not None and complainer.undeliverable_at is not None
    assert numbers(campaign)["unsubscribed"] == 1


def test_the_webhook_needs_its_secret_and_is_off_without_one(program, settings):
    client = APIClient()
    body = {"events": [{"type": "bounce", "email": "c0@example.com"}]}
    settings.EMAIL_WEBHOOK_SECRET = ""
    assert client.post(URL, body, format="json").status_code == 404
    settings.EMAIL_WEBHOOK_SECRET = SECRET
    denied = client.post(URL, body, format="json", HTTP_AUTHORIZATION="Bearer wrong")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "bad_secret"


class RefusingBackend:
    """An SMTP server that refuses one address with the given code."""

    def __init__(self, code):
        self.code = code

    def __call__(self, message):
        if message.to == ["c1@example.com"]:
            raise smtplib.SMTPRecipientsRefused({"c1@example.com": (self.code, b"No such user")})
        mail.outbox.append(message)


@pytest.mark.parametrize(
    ("code", "state", "bounced"), [(550, S.BOUNCED, True), (452, S.FAILED, False)]
)
def test_a_permanent_smtp_refusal_at_send_is_a_bounce_a_temporary_one_a_failure(
    program, monkeypatch, code, state, bounced
):
    customers(program, 3)
    campaign = campaigns.campaign_create(
        program=program, name="x", customers=program.customers.all()
    )
    Campaign.objects.filter(pk=campaign.pk).update(step=1, status="sending")
    monkeypatch.setattr(
        emails.EmailMultiAlternatives, "send", lambda self: RefusingBackend(code)(self)
    )
    campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=0)
    row = CampaignRecipient.objects.get(customer__external_id="c-1")
    assert row.state == state
    assert (Customer.objects.get(external_id="c-1").undeliverable_at is not None) is bounced
    n = selectors.campaign_numbers(campaign=campaign)
    assert (n["sent"], n["bounced"], n["failed"]) == (2, int(bounced), int(not bounced))
    # The sweep does not take a bounced row for an interrupted send.
    with time_machine.travel(timezone.now() + campaigns.CLAIM_LEASE + timedelta(minutes=1)):
        campaigns.campaigns_sweep()
    assert CampaignRecipient.objects.get(pk=row.pk).state == state
