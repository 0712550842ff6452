"""Impressions and shares, by placement (clicks and referrals carry theirs in referrals)."""

from django.db import models
from django.utils import timezone

from advocacy.models import Advocate, Program


class PlacementEvent(models.Model):
    """A referral offer shown (impression) or shared (share) somewhere: one row each.

    ``viewer`` identifies who saw or shared it without storing who they are: a hash of
    the signed customer's email (prompt, widget), or of the browser's own visitor id.
    Unique impressions and sharers are counted by it (docs/metrics.md, "Placements").
    """

    class Kind(models.TextChoices):
        IMPRESSION = "impression", "Impression"
        SHARE = "share", "Share"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    placement = models.CharField(max_length=40)
    channel = models.CharField(
        max_length=30, blank=True, help_text="A share's channel: copy, email, whatsapp, qr, ..."
    )
    advocate = models.ForeignKey(
        Advocate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    viewer = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["program", "placement", "created_at"]),
            models.Index(fields=["program", "viewer", "placement", "kind"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.placement}"
