"""The NPS loop: survey email with 0-10 links, the comment page, promoters invited,
detractors followed up, passives left alone."""

import re

import pytest
from django.core import mail

from advocacy.models import Advocate
from recruitment import nps, services
from recruitment.models import Customer, NpsResponse, NpsSurvey, RecruitmentSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(program):
    services.customers_upsert(
        program=program,
        rows=[(0, {"external_id": "c-1", "email": "c1@example.com", "name": "Cleo",
                   "marketing_consent": True, "locale": "ro"})],
    )  # fmt: skip
    return Customer.objects.get()


def survey_links(message):
    return dict(
        (int(n), url.replace("http://testserver", ""))
        for n, url in re.findall(r"^(\d+): (\S+)$", message.body, re.M)
    )


def send_survey(program, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return nps.nps_surveys_create(program=program, customers=Customer.objects.all())


def test_the_survey_is_sent_once_in_the_customers_language_with_eleven_links(
    program, customer, django_capture_on_commit_callbacks
):
    assert send_survey(program, django_capture_on_commit_callbacks) == 1
    (message,) = mail.outbox
    assert message.subject.startswith("Cât de probabil")
    assert sorted(survey_links(message)) == list(range(11))
    survey = NpsSurvey.objects.get()
    assert nps.nps_survey_deliver(survey_id=survey.pk) == "already"
    assert len(mail.outbox) == 1


def test_one_click_records_the_score_then_the_comment_page_takes_a_comment(
    client, program, customer, django_capture_on_commit_callbacks
):
    send_survey(program, django_capture_on_commit_callbacks)
    links = survey_links(mail.outbox[0])
    page = client.get(links[4])
    assert page.status_code == 200
    assert "Ai răspuns 4 din 10." in page.content.decode()
    response = NpsResponse.objects.get()
    assert (response.score, response.category, response.followup_status) == (4, "detractor", "open")
    client.get(links[6])  # changed their mind: still one answer
    assert NpsResponse.objects.get().score == 6
    page = client.post(links[6], {"comment": "Delivery was late"})
    assert page.status_code == 200 and "Mulțumim" in page.content.decode()
    assert NpsResponse.objects.get().comment == "Delivery was late"
    assert client.get(links[6].replace("/6/", "/11/")).status_code == 400
    assert client.get("/recruit/nps/forged/5/").status_code == 400


def test_promoters_are_invited_when_the_program_enables_it(
    client, program, customer, django_capture_on_commit_callbacks
):
    RecruitmentSettings.objects.update_or_create(
        program=program, defaults={"auto_invite_promoters": True}
    )
    send_survey(program, django_capture_on_commit_callbacks)
    links = survey_links(mail.outbox[0])
    with django_capture_on_commit_callbacks(execute=True):
        client.get(links[10])
    advocate = Advocate.objects.get(email="c1@example.com")
    assert advocate.status == Advocate.Status.INVITED
    assert Customer.objects.get().advocate == advocate
    assert len(mail.outbox) == 2  # the survey, then the program's invitation
    assert NpsResponse.objects.get().followup_status == "none"


def test_promoters_are_not_invited_by_default_and_passives_get_nothing(program, customer):
    services.nps_record(program=program, score=10, customer_external_id="c-1")
    services.nps_record(program=program, score=8, customer_external_id="c-1")
    assert not Advocate.objects.exists()
    assert not NpsResponse.objects.exclude(followup_status="none").exists()


def test_no_survey_without_consent_or_after_unsubscribing(
    program, customer, django_capture_on_commit_callbacks
):
    Customer.objects.update(marketing_consent=False)
    assert send_survey(program, django_capture_on_commit_callbacks) == 0
    assert not mail.outbox


def test_the_recruitment_catalogs_are_complete():
    from pathlib import Path

    from django.conf import settings

    for locale in ["nb", "sv", "ro", "zh_Hans"]:
        po = Path(settings.BASE_DIR) / "recruitment" / "locale" / locale / "LC_MESSAGES"
        entries = (po / "django.po").read_text(encoding="utf-8").split("\n\n")[1:]
        assert not [e for e in entries if e.rstrip().endswith('msgstr ""')], locale
        assert (po / "django.mo").exists()
