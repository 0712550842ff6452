"""Perks (early access to a drop or a sale) granted as rewards: once, delivered at once,
shown in the portal and emailed, from tiers, challenges and the points catalog."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError
from django.utils import timezone

from advocacy.models import AuditLog
from core.errors import ServiceError
from nurture import services as nurture_services
from nurture.models import Challenge, Tier
from nurture.tiers import standing_recompute
from rewards.catalog import points_redeem
from rewards.ledger import available_points
from rewards.models import CatalogItem, LedgerEntry, Perk, Redemption, Reward
from rewards.perks import perk_grant
from rewards.services import reward_issue, reward_mature
from tests.portal.helpers import add_referral


@pytest.fixture
def drop(program):
    now = timezone.now()
    return Perk.objects.create(
        program=program, name="Winter drop, 48 h early", description="Before everyone else.",
        url="https://shop.example.com/drop?access=vip", code="EARLY48",
        starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=4),
    )  # fmt: skip


def test_a_perk_is_granted_once_delivered_and_emailed(
    advocate, drop, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = perk_grant(advocate=advocate, perk=drop, key="gift:1")
    again = perk_grant(advocate=advocate, perk=drop, key="gift:1")
    assert first.pk == again.pk
    reward = Reward.objects.get(pk=first.pk)
    assert (reward.kind, reward.status, reward.perk) == ("perk", "fulfilled", drop)
    assert not LedgerEntry.objects.filter(reward=reward).exists()  # no balance moves
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert mail.outbox[0].subject == "Your perk: Winter drop, 48 h early"
    assert "EARLY48" in body and "https://shop.example.com/drop?access=vip" in body
    assert "Opens for you on" in body


def test_a_perk_of_another_program_is_refused(advocate, other_program):
    perk = Perk.objects.create(program=other_program[0], name="X", code="X")
    with pytest.raises(ServiceError):
        perk_grant(advocate=advocate, perk=perk, key="k")
    assert not Reward.objects.exists()


def test_a_perk_needs_a_link_or_a_code(program):
    with pytest.raises(IntegrityError):
        Perk.objects.create(program=program, name="Nothing to use")


def test_an_early_access_catalog_item_delivers_its_perk_for_points(advocate, program, drop):
    reward = reward_issue(
        program=program, advocate=advocate, key="pts", reason="pts",
        kind="points", amount_minor=300, currency="PTS", hold_days=0,
    )  # fmt: skip
    reward_mature(reward_id=reward.pk)
    item = CatalogItem.objects.create(
        program=program, name="Early access", kind="early_access", points_price=200, perk=drop
    )
    redemption = points_redeem(advocate=advocate, item=item, idempotency_key="r1")
    assert redemption.status == Redemption.Status.COMPLETED
    assert available_points(advocate.pk) == 100
    granted = Reward.objects.get(idempotency_key=f"redemption:{redemption.pk}:perk")
    assert granted.perk == drop and granted.status == "fulfilled"
    points_redeem(advocate=advocate, item=item, idempotency_key="r1")  # the same click again
    assert Reward.objects.filter(perk=drop).count() == 1


def test_an_early_access_catalog_item_needs_a_perk(program):
    with pytest.raises(IntegrityError):
        CatalogItem.objects.create(program=program, name="x", kind="early_access", points_price=1)


def test_entering_a_tier_grants_its_perk_once(advocate, program, drop):
    tier = Tier.objects.create(
        program=program, name="Insider", rank=1, metric="referrals", threshold=1, entry_perk=drop
    )
    add_referral(advocate, "friend@example.com")
    standing_recompute(advocate=advocate)
    key = f"tier-perk:{advocate.pk}:{tier.pk}"
    assert Reward.objects.get(idempotency_key=key).perk == drop
    Tier.objects.filter(pk=tier.pk).update(threshold=5)
    standing_recompute(advocate=advocate)  # leaves the tier
    Tier.objects.filter(pk=tier.pk).update(threshold=1)
    standing_recompute(advocate=advocate)  # and comes back: no second perk
    assert Reward.objects.filter(perk=drop).count() == 1


def test_an_approved_challenge_entry_grants_its_perk(advocate, program, drop):
    challenge = Challenge.objects.create(
        program=program, kind="custom", title="Tell us", points=10, perk=drop
    )
    entry = nurture_services.challenge_submit(advocate=advocate, challenge=challenge, answer="x")
    assert not Reward.objects.filter(perk=drop).exists()  # not before approval
    nurture_services.submission_approve(submission_id=entry.pk)
    assert Reward.objects.get(idempotency_key=f"challenge-perk:{entry.pk}").perk == drop


def test_saving_a_perk_in_the_admin_is_audited(program):
    from rewards.services import perk_save

    perk = Perk(program=program, name="VIP night", url="https://shop.example.com/vip")
    perk_save(perk=perk, actor=None, changed=["name"])
    assert AuditLog.objects.filter(action="perk.created", object_id=str(perk.pk)).exists()
