"""Keeping advocates engaged beyond cash: tiers, challenges, testimonials, recognition."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from advocacy.models import Advocate, Program


class Moderation(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Challenge(models.Model):
    """Something an advocate can do for points before a deadline."""

    class Kind(models.TextChoices):
        SHARE = "share", "Share on a channel"
        REVIEW = "review", "Write a review"
        REFER = "refer", "Refer friends"
        HASHTAG = "hashtag", "Post with a hashtag"
        SURVEY = "survey", "Answer a survey"
        CUSTOM = "custom", "Custom"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="challenges")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=120)
    points = models.PositiveIntegerField(default=0)
    deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class ChallengeSubmission(models.Model):
    """An advocate's proof that they did a challenge, moderated by a manager."""

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="submissions")
    advocate = models.ForeignKey(
        Advocate, on_delete=models.PROTECT, related_name="challenge_submissions"
    )
    status = models.CharField(max_length=10, choices=Moderation.choices, default=Moderation.PENDING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.challenge} by {self.advocate}"


class Testimonial(models.Model):
    """A testimonial an advocate wrote, published only with consent and approval."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="testimonials")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="testimonials")
    text = models.TextField()
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    consent_to_publish = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Moderation.choices, default=Moderation.PENDING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.rating}/5 by {self.advocate}"
