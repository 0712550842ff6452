"""Signal receivers: thin adapters from django-allauth's events to services."""

from allauth.account.signals import email_confirmed
from django.dispatch import receiver

from .services import advocate_claim_invitations


@receiver(email_confirmed, dispatch_uid="advocacy.claim_invitations")
def claim_invitations_on_verification(request, email_address, **kwargs):
    advocate_claim_invitations(user=email_address.user, email=email_address.email)
