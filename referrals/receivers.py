"""The referral layer's answers to what advocacy announces."""

from django.dispatch import receiver

from advocacy import events as advocacy_events

from .services import advocate_link_setup


@receiver(advocacy_events.advocate_enrolled, dispatch_uid="referrals.advocate_link")
def give_new_advocate_a_link(sender, advocate, **kwargs):
    advocate_link_setup(advocate=advocate)
