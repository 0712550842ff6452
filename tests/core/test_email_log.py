"""Every email the platform sends gets a read-only row in the admin's email log:
recipient, kind, subject, status (sent, failed, bounced), time and program."""

import smtplib

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.core import mail

from advocacy.models import ProgramMembership
from core.mail import email_bounced
from core.models import EmailLog
from nurture.emails import email_queue, email_send
from rewards import notifications
from rewards.services import reward_issue, reward_mature
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class Refusing:
    """A delivery backend whose server refuses everything."""

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no such user")})


@pytest.fixture(autouse=True)
def logging_backend(settings):
    # Django's test runner swaps EMAIL_BACKEND for locmem; put the platform's back.
    settings.EMAIL_BACKEND = "core.mail.LoggingEmailBackend"
    settings.EMAIL_DELIVERY_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_a_reward_email_is_logged_with_its_kind_program_and_message_id(program, advocate):
    reward = reward_issue(
        program=program, advocate=advocate, key="r", reason="r",
        amount_minor=500, currency="EUR", hold_days=0,
    )  # fmt: skip
    reward_mature(reward_id=reward.pk)
    assert notifications.notify_advocate("reward_available", reward.pk) == "sent"
    [message] = mail.outbox
    [row] = EmailLog.objects.all()
    assert (row.to, row.kind, row.status, row.program_id) == (
        advocate.email, "reward_available", "sent", program.pk,
    )  # fmt: skip
    assert row.subject == message.subject
    assert row.message_id and row.message_id == message.extra_headers["Message-ID"]


def test_nurture_emails_are_logged_too(program, advocate):
    row = email_queue(
        advocate=advocate, template="badge", key="b1",
        params={"badge": "x", "code": "first_referral"},
    )  # fmt: skip
    email_send(email_id=row.pk)
    log = EmailLog.objects.get()
    assert (log.kind, log.program_id, log.status) == ("badge", program.pk, "sent")


def test_allauth_emails_are_logged_by_their_template(client):
    user = UserFactory(username="pia", email="pia@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.post("/accounts/password/reset/", {"email": "pia@example.com"})
    log = EmailLog.objects.get()
    assert (log.to, log.kind, log.program_id) == (
        "pia@example.com",
        "account.password_reset_key",
        None,
    )


def test_a_refused_email_is_logged_as_failed_and_the_error_still_raised(
    settings, program, advocate
):
    settings.EMAIL_DELIVERY_BACKEND = "tests.core.test_email_log.Refusing"
    row = email_queue(
        advocate=advocate, template="badge", key="b1",
        params={"badge": "x", "code": "first_referral"},
    )  # fmt: skip
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        email_send(email_id=row.pk)
    log = EmailLog.objects.get()
    assert log.status == "failed" and "SMTPRecipientsRefused" in log.error


def test_a_bounce_is_recorded_by_message_id(program, advocate):
    row = email_queue(
        advocate=advocate, template="badge", key="b1",
        params={"badge": "x", "code": "first_referral"},
    )  # fmt: skip
    email_send(email_id=row.pk)
    log = EmailLog.objects.get()
    assert email_bounced(message_id=log.message_id) == 1
    assert email_bounced(message_id=log.message_id) == 0
    log.refresh_from_db()
    assert log.status == "bounced"


def _emails_of(program, advocate, other_program):
    EmailLog.objects.create(to=advocate.email, kind="badge", subject="Ours", status="sent",
                            program_id=program.pk)  # fmt: skip
    EmailLog.objects.create(to="x@other.example", kind="badge", subject="Theirs",
                            status="sent", program_id=other_program[0].pk)  # fmt: skip
    EmailLog.objects.create(to="staff@example.com", kind="account.password_reset_key",
                            subject="Reset", status="sent")  # fmt: skip


def test_a_manager_sees_and_searches_only_their_programs_emails(
    client, program, advocate, other_program
):
    _emails_of(program, advocate, other_program)
    user = UserFactory(username="maria", is_staff=True)
    ProgramMembership.objects.create(program=program, user=user, role="manager")
    user.user_permissions.set(Permission.objects.filter(codename="view_emaillog"))
    client.force_login(user)
    page = client.get("/admin/core/emaillog/").content.decode()
    assert "Ours" in page and "Theirs" not in page and "Reset" not in page
    assert program.name in page
    found = client.get("/admin/core/emaillog/", {"q": advocate.email}).content.decode()
    assert "Ours" in found
    assert client.get("/admin/core/emaillog/add/").status_code == 403


def test_a_superuser_sees_every_email(admin_client, program, advocate, other_program):
    _emails_of(program, advocate, other_program)
    page = admin_client.get("/admin/core/emaillog/?status=sent").content.decode()
    assert "Ours" in page and "Theirs" in page and "Reset" in page
