from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "nurture"
    verbose_name = "Nurture"

    def ready(self):
        from advocacy import events as advocacy_events
        from referrals import events as referral_events
        from rewards import events as reward_events
        from rewards import multipliers

        from . import receivers, tiers

        reward_events.reward_issued.connect(receivers.on_reward_changed, dispatch_uid="nur-ri")
        reward_events.reward_reversed.connect(receivers.on_reward_changed, dispatch_uid="nur-rr")
        referral_events.referral_created.connect(
            receivers.on_referral_created, dispatch_uid="nur-ref"
        )
        referral_events.conversion_attributed.connect(
            receivers.on_conversion_attributed, dispatch_uid="nur-conv"
        )
        advocacy_events.advocate_enrolled.connect(
            receivers.on_advocate_enrolled, dispatch_uid="nur-enrolled"
        )
        multipliers.provider_register(tiers.tier_multiplier)
