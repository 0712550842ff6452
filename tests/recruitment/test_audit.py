"""Recruitment changes leave audit rows: segments, campaigns and their steps, settings."""

import pytest
from django.urls import reverse

from advocacy.models import AuditAction, AuditLog
from recruitment import campaigns, services
from recruitment.models import RecruitmentSettings, Segment
from tests.recruitment.test_admin import staff
from tests.recruitment.test_campaigns import customers

pytestmark = pytest.mark.django_db


def actions(obj):
    return list(
        AuditLog.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )


def test_segments_created_and_changed_are_audited_with_their_filters(program):
    segment = services.segment_save(
        segment=Segment(program=program, name="Fans", slug="fans", filters={"score_min": 50})
    )
    segment.filters = {"score_min": 70}
    services.segment_save(segment=segment)
    assert actions(segment) == [AuditAction.SEGMENT_CREATED, AuditAction.SEGMENT_UPDATED]
    last = AuditLog.objects.filter(object_id=str(segment.pk)).order_by("pk").last()
    assert last.data["filters"] == {"score_min": 70} and last.program == program


def test_a_campaign_and_each_step_it_sends_are_audited(program, django_capture_on_commit_callbacks):
    customers(program, 2)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.campaign_create(
            program=program, name="Spring", customers=program.customers.all()
        )
    assert campaigns.campaign_step_start(campaign_id=campaign.pk, step=2)
    assert not campaigns.campaign_step_start(campaign_id=campaign.pk, step=2)  # once
    assert actions(campaign) == [
        AuditAction.CAMPAIGN_CREATED,
        AuditAction.CAMPAIGN_STEP_STARTED,
        AuditAction.CAMPAIGN_STEP_STARTED,
    ]
    created = AuditLog.objects.filter(action=AuditAction.CAMPAIGN_CREATED).get()
    assert created.data["recipients"] == 2
    steps = AuditLog.objects.filter(action=AuditAction.CAMPAIGN_STEP_STARTED).order_by("pk")
    assert [a.data["step"] for a in steps] == [1, 2]


def test_weights_changed_in_the_admin_are_audited_with_before_and_after(client, program):
    user = staff("alice", program)
    client.force_login(user)
    row = RecruitmentSettings.objects.create(program=program)
    url = reverse("admin:recruitment_recruitmentsettings_change", args=[row.pk])
    form = {
        "program": program.pk, "ranking": "default", "weight_recency": 20, "weight_frequency": 20,
        "weight_monetary": 15, "weight_nps": 40, "weight_reviews": 10, "weight_social": 5,
        "weight_referrals": 5, "frequency_target": 5, "monetary_target_minor": 50000,
        "send_rate_per_minute": 600,
    }  # fmt: skip
    response = client.post(url, form)
    assert response.status_code == 302, response.content
    entry = AuditLog.objects.get(action=AuditAction.RECRUITMENT_SETTINGS_UPDATED)
    assert entry.data == {"weight_nps": [25, 40]}
    assert entry.actor == user
