"""Celery tasks of the referral layer (defined beside their services, collected here)."""

from .invitations import send_invitation

__all__ = ["send_invitation"]
