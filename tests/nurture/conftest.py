from decimal import Decimal

import pytest

from nurture.models import Challenge, Tier
from tests.portal.conftest import alice, alice_client, charlie_client  # noqa: F401


@pytest.fixture
def tiers(program):
    silver = Tier.objects.create(
        program=program, name="Silver", rank=1, metric="referrals", threshold=2,
        multiplier=Decimal("1.50"), entry_points=100, perks="Early access to new products",
    )  # fmt: skip
    gold = Tier.objects.create(
        program=program, name="Gold", rank=2, metric="referrals", threshold=4,
        multiplier=Decimal("2.00"), entry_points=250,
    )  # fmt: skip
    return silver, gold


@pytest.fixture
def review_challenge(program):
    return Challenge.objects.create(
        program=program, kind="review", title="Review us on Trustpilot", points=50,
        target_url="https://www.trustpilot.com/review/shop.example.com",
    )  # fmt: skip
