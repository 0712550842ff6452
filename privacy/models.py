"""What an advocate agreed to receive by email."""

from django.db import models

from advocacy.models import Advocate


class EmailPreference(models.Model):
    """One row per advocate, created on first change; no row means the defaults."""

    advocate = models.OneToOneField(
        Advocate, on_delete=models.CASCADE, related_name="email_preference"
    )
    rewards_and_payouts = models.BooleanField(default=True)
    program_news = models.BooleanField(default=True)
    unsubscribed_all_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"email preferences of advocate {self.advocate_id}"
