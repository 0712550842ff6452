"""Customers, their NPS answers, segments and invitation campaigns.

The first half of the advocate lifecycle: know the customers, find the likely
advocates, invite them. Orders stay in ``referrals.Conversion`` (history sent with
``backfill`` included); a customer here is the merchant's profile of a person.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Advocate, Program


class Customer(models.Model):
    """The merchant's profile of one customer, upserted by ``external_id``."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="customers")
    external_id = models.CharField(max_length=120)
    email = models.EmailField(max_length=254, blank=True)
    email_normalized = models.CharField(max_length=254, blank=True, db_index=True)
    name = models.CharField(max_length=120, blank=True)
    locale = models.CharField(max_length=10, blank=True)
    marketing_consent = models.BooleanField(default=False)
    reviews = models.PositiveIntegerField(default=0)
    review_rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    social_engagement = models.PositiveIntegerField(default=0)
    attributes = models.JSONField(default=dict, blank=True)
    advocate = models.ForeignKey(
        Advocate, on_delete=models.SET_NULL, null=True, blank=True, related_name="customers"
    )
    # The advocate score, 0-100, with the model that gave it and its reasons.
    score = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    score_model = models.CharField(max_length=40, blank=True)
    score_reasons = models.JSONField(default=list, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "external_id"], name="customer_unique_external_id"
            ),
            models.CheckConstraint(
                condition=Q(review_rating__isnull=True)
                | (Q(review_rating__gte=1) & Q(review_rating__lte=5)),
                name="customer_review_rating_1_5",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.external_id


class NpsResponse(models.Model):
    """One answer to "how likely are you to recommend us?" (0-10)."""

    class Category(models.TextChoices):
        PROMOTER = "promoter", "Promoter"
        PASSIVE = "passive", "Passive"
        DETRACTOR = "detractor", "Detractor"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="nps_responses")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="nps_responses"
    )
    # Who answered, as the merchant named them (a customer may not be imported yet).
    customer_external_id = models.CharField(max_length=120, blank=True)
    customer_email_normalized = models.CharField(max_length=254, blank=True)
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(10)])
    category = models.CharField(max_length=10, choices=Category.choices)
    comment = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=10), name="nps_score_0_10"),
        ]

    def __str__(self) -> str:
        return f"NPS {self.score} ({self.category})"

    @staticmethod
    def category_for(score: int) -> str:
        if score >= 9:
            return NpsResponse.Category.PROMOTER
        if score >= 7:
            return NpsResponse.Category.PASSIVE
        return NpsResponse.Category.DETRACTOR


class Segment(models.Model):
    """A saved filter over customers (fields, score, NPS, orders, consent, advocacy)."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="segments")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    filters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["program", "slug"], name="segment_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    """An invitation campaign: an invitation, then reminders to who has not joined."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        DONE = "done", "Done"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=120)
    segment = models.ForeignKey(
        Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    send_at = models.DateTimeField(default=timezone.now)
    reminders = models.PositiveSmallIntegerField(default=1)
    reminder_after_days = models.PositiveSmallIntegerField(default=3)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class CampaignRecipient(models.Model):
    """One customer in a campaign, with where their invitation stands."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED_NO_CONSENT = "skipped_no_consent", "Skipped: no consent"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        OPENED = "opened", "Opened"
        CLICKED = "clicked", "Clicked"
        JOINED = "joined", "Joined"
        BOUNCED = "bounced", "Bounced"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invitations")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    # Steps sent so far: 0 none, 1 the invitation, 2 the first reminder, ...
    steps_sent = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="campaign_recipient_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} in {self.campaign} ({self.state})"
