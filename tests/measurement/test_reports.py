"""The weekly report: last week against the one before, to each manager once, opt-out."""

from datetime import date

import pytest
import time_machine
from django.core import mail

from advocacy.models import ProgramMembership
from measurement import reports, tasks
from measurement.models import ReportSubscription
from tests.factories import UserFactory

MONDAY_AFTER = "2026-03-16T07:00:00Z"  # reports the week of 9-15 March


@pytest.fixture
def managers(dataset):
    mona = UserFactory(username="mona", email="mona@example.com", is_staff=True)
    otto = UserFactory(username="otto", email="otto@example.com", is_staff=True)
    vera = UserFactory(username="vera", email="vera@example.com", is_staff=True)
    ProgramMembership.objects.create(program=dataset, user=mona, role="manager")
    ProgramMembership.objects.create(program=dataset, user=otto, role="owner")
    ProgramMembership.objects.create(program=dataset, user=vera, role="viewer")
    return mona, otto, vera


def test_each_manager_gets_last_weeks_numbers_once(dataset, managers):
    mail.outbox.clear()
    with time_machine.travel(MONDAY_AFTER, tick=False):
        assert tasks.send_weekly_reports() == 2  # Mona and Otto; Vera only views
        tasks.send_weekly_reports()  # a second run (or duplicate task) sends nothing
    assert sorted(m.to[0] for m in mail.outbox) == ["mona@example.com", "otto@example.com"]
    message = mail.outbox[0]
    assert message.subject == "Acme Friends: your week from 2026-03-09"
    # 9-15 March: f3's first order (40.00) on the 12th; c1 and Erin are not referred.
    # The week before (2-8 March): o-f1 120.00 - 20.00 refunded = 100.00.
    assert "- Referred revenue: 40.00 (-60.00, was 100.00)" in message.body
    assert "/admin/?program=" in message.body and "from=2026-03-09&to=2026-03-15" in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<http://testserver/measurement")


def test_a_manager_who_opted_out_gets_nothing(client, dataset, managers):
    mona, _, _ = managers
    token = reports.opt_out_token(dataset.pk, mona.pk)
    assert client.get(f"/measurement/reports/opt-out/{token}").status_code == 200
    assert client.get("/measurement/reports/opt-out/forged").status_code == 404
    assert not ReportSubscription.objects.get(user=mona).weekly_report
    mail.outbox.clear()
    with time_machine.travel(MONDAY_AFTER, tick=False):
        tasks.send_weekly_reports()
    assert [m.to[0] for m in mail.outbox] == ["otto@example.com"]


def test_a_refused_send_is_given_back_for_the_retry(dataset, managers, monkeypatch):
    mona, _, _ = managers

    def refuse(**kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr(reports, "templated_email_send", refuse)
    with pytest.raises(OSError):
        reports.weekly_report_send(program_id=dataset.pk, user_id=mona.pk, week=date(2026, 3, 9))
    assert ReportSubscription.objects.get(user=mona).last_sent_week is None
    monkeypatch.undo()
    mail.outbox.clear()
    assert reports.weekly_report_send(program_id=dataset.pk, user_id=mona.pk, week=date(2026, 3, 9))
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("language", "subject", "line"),
    [
        ("nb", "Acme Friends: uken din fra 2026-03-09", "- Klikk: 1 (-2, var 3)"),
        ("sv", "Acme Friends: din vecka från 2026-03-09", "- Klick: 1 (-2, var 3)"),
        (
            "ro",
            "Acme Friends: săptămâna dvs. începând cu 2026-03-09",
            "- Clicuri: 1 (-2, ",
        ),
        ("zh-hans", "Acme Friends\uff1a自 2026-03-09 起的一周", "- 点击: 1 (-2, 之前 3)"),
    ],
)
def test_each_manager_gets_the_report_in_their_language(dataset, managers, language, subject, line):
    mona, _, _ = managers
    ReportSubscription.objects.create(program=dataset, user=mona, language=language)
    mail.outbox.clear()
    with time_machine.travel(MONDAY_AFTER, tick=False):
        tasks.send_weekly_reports()
    by_to = {m.to[0]: m for m in mail.outbox}
    assert by_to["mona@example.com"].subject == subject
    assert line in by_to["mona@example.com"].body
    # Otto chose nothing: the site's language (English).
    assert by_to["otto@example.com"].subject == "Acme Friends: your week from 2026-03-09"
