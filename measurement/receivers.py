"""Every change to a raw row that a rollup counts marks its day, in the same transaction.

Only days before today are marked (``services.rollup_mark``): today is read raw,
and so is yesterday until its rollup settles (``daily.live_from``); both are swept
hourly. Clicks are written in bulk by the click
writer (no per-row signal): the sweep covers them too.
"""

from datetime import UTC

from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from advocacy.models import Advocate
from nurture.models import ChallengeSubmission, Testimonial
from recruitment.models import CampaignRecipient, NpsResponse
from referrals.models import Click, Conversion, Referral
from rewards.models import Reward
from storefront.models import PlacementEvent

from .services import rollup_mark


def _before_today(instant) -> bool:
    """Whether ``instant`` falls on a day the rollups may hold already (before today,
    UTC): only such late events need a mark, and cost a query for their program."""
    today = timezone.now().astimezone(UTC).date()
    return bool(instant) and instant.astimezone(UTC).date() < today


@receiver(post_save, sender=Conversion, dispatch_uid="measurement.conversion")
def conversion_changed(sender, instance, **kwargs):
    rollup_mark(program_id=instance.program_id, instants=[instance.occurred_at])


@receiver(post_save, sender=Referral, dispatch_uid="measurement.referral")
def referral_changed(sender, instance, **kwargs):
    rollup_mark(program_id=instance.program_id, instants=[instance.created_at])


@receiver(post_save, sender=Reward, dispatch_uid="measurement.reward")
def reward_changed(sender, instance, **kwargs):
    rollup_mark(program_id=instance.program_id, instants=[instance.created_at])


@receiver(post_save, sender=Click, dispatch_uid="measurement.click")
def click_changed(sender, instance, **kwargs):
    rollup_mark(program_id=instance.program_id, instants=[instance.created_at])


@receiver(post_save, sender=Advocate, dispatch_uid="measurement.advocate")
def advocate_changed(sender, instance, **kwargs):
    rollup_mark(
        program_id=instance.program_id,
        instants=[instance.created_at, instance.invitation_sent_at],
    )


@receiver(post_save, sender=CampaignRecipient, dispatch_uid="measurement.invitation")
def invitation_changed(sender, instance, **kwargs):
    if _before_today(instance.sent_at):
        # Old invitations only (a late import): today's cost no query.
        rollup_mark(program_id=instance.campaign.program_id, instants=[instance.sent_at])


@receiver(post_save, sender=NpsResponse, dispatch_uid="measurement.nps")
def nps_changed(sender, instance, **kwargs):
    rollup_mark(program_id=instance.program_id, instants=[instance.occurred_at])


@receiver(post_save, sender=PlacementEvent, dispatch_uid="measurement.placement_event")
def placement_event_changed(sender, instance, **kwargs):
    rollup_mark(program_id=instance.program_id, instants=[instance.created_at])


@receiver(post_save, sender=Testimonial, dispatch_uid="measurement.testimonial")
def testimonial_changed(sender, instance, **kwargs):
    rollup_mark(program_id=instance.program_id, instants=[instance.created_at])


@receiver(post_save, sender=ChallengeSubmission, dispatch_uid="measurement.submission")
def submission_changed(sender, instance, **kwargs):
    if _before_today(instance.created_at):
        # Moderated late: the challenge's program costs a query only then.
        rollup_mark(program_id=instance.challenge.program_id, instants=[instance.created_at])
