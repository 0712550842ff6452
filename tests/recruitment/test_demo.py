"""seed_demo fills the recruitment screens: customers with orders, NPS, a segment, a campaign."""

import pytest

from recruitment import demo
from recruitment.models import Campaign, Customer, NpsResponse, Segment
from recruitment.selectors import segment_customers
from referrals.models import Conversion
from rewards.models import Reward

pytestmark = pytest.mark.django_db


def test_demo_customers_have_history_scores_and_a_campaign(program, advocate):
    assert demo.seed(program=program, customers=300) == 302
    assert demo.seed(program=program, customers=300) == 0  # once
    assert Customer.objects.filter(score__isnull=False).count() == 302
    assert Conversion.objects.filter(backfill=True, attributed=False).count() > 300
    assert not Reward.objects.exists()
    assert NpsResponse.objects.filter(followup_status="open").exists()
    segment = Segment.objects.get(slug="likely-advocates")
    campaign = Campaign.objects.get()
    assert campaign.recipients.count() == segment_customers(segment).count() > 0
