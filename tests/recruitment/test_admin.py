"""Recruitment in the admin: scoped to the manager's programs; score, live count, funnel."""

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from advocacy.models import ProgramMembership
from recruitment import campaigns, services
from recruitment.models import (
    Campaign,
    CampaignRecipient,
    Customer,
    DetractorFollowUp,
    InvitationText,
    NpsResponse,
    RecruitmentSettings,
    Segment,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
MODELS = [Customer, Segment, Campaign, CampaignRecipient, NpsResponse, DetractorFollowUp]
MODELS += [RecruitmentSettings, InvitationText]


def url(model, view, *args):
    return reverse(f"admin:recruitment_{model._meta.model_name}_{view}", args=args)


def staff(username, program):
    user = UserFactory(username=username, is_staff=True)
    ProgramMembership.objects.create(program=program, user=user, role=ProgramMembership.Role.OWNER)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="recruitment"))
    return user


@pytest.fixture
def data(program, other_program):
    services.customers_upsert(
        program=program,
        rows=[
            (0, {"external_id": "acme-1", "email": "a1@example.com", "marketing_consent": True}),
            (1, {"external_id": "acme-2", "email": "a2@example.com", "marketing_consent": False}),
        ],
    )
    services.customers_upsert(
        program=other_program[0],
        rows=[
            (0, {"external_id": "other-1", "email": "o1@example.org", "marketing_consent": True})
        ],
    )
    services.nps_record(program=program, score=2, customer_external_id="acme-1", comment="Slow")
    services.nps_record(program=other_program[0], score=1, customer_external_id="other-1")
    segment = Segment.objects.create(
        program=program, name="Consent", slug="consent", filters={"marketing_consent": True}
    )
    campaign = campaigns.campaign_create(program=program, name="Acme spring", segment=segment)
    Segment.objects.create(program=other_program[0], name="Other", slug="other")
    return {"segment": segment, "campaign": campaign}


def test_every_page_opens_and_shows_only_the_managers_program(client, program, data):
    client.force_login(staff("alice", program))
    for model in MODELS:
        page = client.get(url(model, "changelist"))
        assert page.status_code == 200, model
        assert b"other-1" not in page.content and b"Other" not in page.content, model
    customer = Customer.objects.get(external_id="acme-1")
    page = client.get(url(Customer, "change", customer.pk)).content.decode()
    assert "Score and its reasons" in page and "nps +" in page
    outsider = Customer.objects.get(external_id="other-1")
    assert client.get(url(Customer, "change", outsider.pk)).status_code == 302  # not found: home


def test_the_customer_list_sorts_by_score(client, program, data):
    client.force_login(staff("alice", program))
    page = client.get(url(Customer, "changelist") + "?o=-4")
    assert page.status_code == 200


def test_the_segment_count_is_live_and_scoped(client, program, other_program, data):
    client.force_login(staff("alice", program))
    count = reverse("admin:recruitment_segment_count")
    assert client.get(count, {"program": program.pk, "marketing_consent": "yes"}).json() == {
        "count": 1
    }
    assert client.get(count, {"program": program.pk}).json() == {"count": 2}
    # From an existing segment's page (its own slug and name are in the form).
    own = {"program": program.pk, "slug": "consent", "name": "Consent", "nps": "detractor"}
    assert client.get(count, own).json() == {"count": 1}
    assert client.get(count, {"program": other_program[0].pk}).json()["count"] is None
    page = client.get(url(Segment, "change", data["segment"].pk)).content.decode()
    assert 'id="segment-count">1<' in page


def test_a_segment_saved_from_the_form_keeps_its_filters(client, program, data):
    client.force_login(staff("alice", program))
    resp = client.post(
        url(Segment, "add"),
        {"program": program.pk, "name": "Promoters who buy", "nps": ["promoter"], "orders_min": "2",
         "revenue_min": "50", "marketing_consent": "yes", "advocate": "", "locale": "nb, sv"},
    )  # fmt: skip
    assert resp.status_code == 302, resp.content
    segment = Segment.objects.get(slug="promoters-who-buy")
    assert segment.filters == {
        "nps": ["promoter"], "orders_min": 2, "revenue_min": "50.00",
        "marketing_consent": True, "locale": ["nb", "sv"],
    }  # fmt: skip


def test_the_campaign_page_shows_progress_and_funnel(client, program, data):
    client.force_login(staff("alice", program))
    page = client.get(url(Campaign, "change", data["campaign"].pk)).content.decode()
    assert "Funnel" in page and "Recipients" in page and "<progress" in page


def test_a_campaign_created_in_the_admin_is_sent(
    client, program, data, django_capture_on_commit_callbacks
):
    client.force_login(staff("alice", program))
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            url(Campaign, "add"),
            {"program": program.pk, "name": "From admin", "segment": data["segment"].pk,
             "send_at_0": "2026-01-01", "send_at_1": "10:00:00", "reminders": "1",
             "reminder_after_days": "3"},
        )  # fmt: skip
    assert resp.status_code == 302, resp.content
    assert [m.to for m in mail.outbox] == [["a1@example.com"]]


def test_detractors_are_queued_with_owner_and_status(client, program, data):
    alice = staff("alice", program)
    client.force_login(alice)
    followup = DetractorFollowUp.objects.get(program=program)
    page = client.get(url(DetractorFollowUp, "changelist")).content.decode()
    assert "Slow" in page
    resp = client.post(
        url(DetractorFollowUp, "change", followup.pk),
        {"followup_status": "in_progress", "followup_owner": alice.pk, "followup_note": "Called"},
    )
    assert resp.status_code == 302, resp.content
    followup.refresh_from_db()
    assert (followup.followup_status, followup.followup_owner, followup.followup_note) == (
        "in_progress",
        alice,
        "Called",
    )
