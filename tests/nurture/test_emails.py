"""Nurture's emails: branded HTML and plain text, in the advocate's language, sent once,
respecting preferences, with one-click unsubscribe; welcome, news, review requests."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from advocacy.emails import email_preferences_update
from nurture import services
from nurture.emails import email_queue, email_send
from nurture.models import OutgoingEmail, ProgramSettings, WelcomeStep
from nurture.tasks import reengagement_due, review_requests_due, welcome_steps_due
from referrals.models import Conversion
from tests.factories import enroll

pytestmark = pytest.mark.django_db


def test_an_email_is_branded_html_with_text_and_unsubscribe(program, advocate):
    program.brand_color = "#aa3300"
    program.save()
    row = email_queue(
        advocate=advocate, template="badge", key="b1",
        params={"badge": "x", "code": "first_referral"},
    )  # fmt: skip
    assert email_send(email_id=row.pk) == "sent"
    assert email_send(email_id=row.pk) == "done"
    [message] = mail.outbox
    html = message.alternatives[0][0]
    head = html[html.index('class="head"') :].split(">")[0].replace(": ", ":")
    assert "padding:16px" in head and "background:#aa3300" in head  # inlined, branded
    assert "First referral" in message.body and program.name in html
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    row.refresh_from_db()
    assert row.status == "sent" and row.html and row.subject


def test_it_is_written_in_the_advocates_language(program, advocate):
    advocate.locale = "sv"
    advocate.save()
    row = email_queue(advocate=advocate, template="reengage", key="r1", params={})
    email_send(email_id=row.pk)
    assert "Avregistrera" in mail.outbox[0].body or "avregistrera" in mail.outbox[0].body.lower()


def test_news_goes_only_to_advocates_who_want_it(program, advocate):
    other = enroll(program, "bob@example.com")
    email_preferences_update(
        advocate=other, rewards_and_payouts=True, program_news=False, unsubscribe_all=False
    )
    assert services.news_broadcast(program=program, subject="New", body="Spring sale") == 1
    [row] = OutgoingEmail.objects.filter(template="news")
    assert row.advocate == advocate


def test_an_opted_out_advocate_gets_no_email(program, advocate):
    email_preferences_update(
        advocate=advocate, rewards_and_payouts=True, program_news=False, unsubscribe_all=False
    )
    row = email_queue(advocate=advocate, template="reengage", key="r2", params={})
    assert email_send(email_id=row.pk) == "skipped" and not mail.outbox


def test_the_welcome_sequence_sends_each_step_once_on_its_day(program):
    for day in (0, 3, 10):
        WelcomeStep.objects.create(program=program, day=day, subject=f"Day {day} at {{program}}",
                                   body="Hi {name}")  # fmt: skip
    advocate = enroll(program, "new@example.com", name="Nora")
    assert [r.params["subject"] for r in OutgoingEmail.objects.filter(template="welcome")] == [
        f"Day 0 at {program.name}"
    ]
    with time_machine.travel(timezone.now() + timedelta(days=3, hours=1)):
        welcome_steps_due()
        welcome_steps_due()
    assert OutgoingEmail.objects.filter(advocate=advocate, template="welcome").count() == 2


def test_a_review_request_follows_a_purchase_by_n_days(program, advocate):
    ProgramSettings.objects.create(program=program, review_request_days=7,
                                   review_url="https://g.page/r/acme")  # fmt: skip
    Conversion.objects.create(
        program=program, order_id="own-1", amount_minor=100, currency="EUR",
        customer_email=advocate.email, customer_email_normalized=advocate.email_normalized,
        request_fingerprint="x",
    )  # fmt: skip
    review_requests_due()
    assert not OutgoingEmail.objects.filter(template="review_request").exists()
    with time_machine.travel(timezone.now() + timedelta(days=7, hours=1)):
        review_requests_due()
        review_requests_due()
    assert OutgoingEmail.objects.filter(template="review_request").count() == 1


def test_inactive_advocates_are_reminded_once_per_period(program, advocate):
    ProgramSettings.objects.create(program=program, reengage_after_days=30)
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert reengagement_due() == 1
        reengagement_due()
    assert OutgoingEmail.objects.filter(template="reengage").count() == 1


def test_a_friend_signing_up_is_announced_without_their_identity(program, advocate):
    from referrals.services import referral_create

    referral_create(program=program, friend_email="before@example.com",
                    referral_code=advocate.coupon_code)  # fmt: skip
    assert not OutgoingEmail.objects.filter(template="friend_activity").exists()  # not set up
    settings_row = ProgramSettings.objects.create(program=program)
    referral_create(program=program, friend_email="nina.berg@example.com", friend_name="Nina Berg",
                    referral_code=advocate.coupon_code)  # fmt: skip
    hidden = OutgoingEmail.objects.get(template="friend_activity")
    assert hidden.params == {"event": "signup", "friend": ""}
    email_send(email_id=hidden.pk)
    assert "Nina" not in mail.outbox[-1].body and "nina" not in mail.outbox[-1].body
    assert "A friend just signed up with your link." in mail.outbox[-1].body
    settings_row.show_friend_names = True
    settings_row.save()
    referral_create(program=program, friend_email="ola@example.com", friend_name="Ola Nordmann",
                    referral_code=advocate.coupon_code)  # fmt: skip
    named = OutgoingEmail.objects.filter(template="friend_activity").latest("pk")
    assert named.params["friend"] == "Ola"
