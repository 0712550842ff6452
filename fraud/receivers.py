"""The fraud engine listens to what the lower layers announce (inside their transactions)."""

from django.dispatch import receiver

from referrals import events as referral_events
from rewards import events as reward_events

from . import services


@receiver(referral_events.referral_created, dispatch_uid="fraud.assess_referral")
def assess_referral(sender, referral, **kwargs):
    services.assessment_for(referral=referral)


@receiver(reward_events.reward_issued, dispatch_uid="fraud.screen_reward")
def screen_reward(sender, reward, **kwargs):
    services.reward_screen(reward=reward)
