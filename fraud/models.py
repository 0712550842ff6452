"""Fraud rules per program, and the engine's assessment of each referral and order."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from advocacy.models import Program
from referrals.models import Conversion, Referral


class Action(models.TextChoices):
    BLOCK = "block", "Block: no reward"
    FLAG = "flag", "Flag: rewards wait for a review"
    IGNORE = "ignore", "Ignore"


class FraudPolicy(models.Model):
    """A program's review settings: what happens to flagged rewards nobody reviews."""

    class Unreviewed(models.TextChoices):
        APPROVE = "approve", "Approve them"
        REJECT = "reject", "Reject them"

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="fraud_policy")
    review_deadline_days = models.PositiveIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Days a flagged reward waits for a manager's decision.",
    )
    unreviewed = models.CharField(
        max_length=10,
        choices=Unreviewed.choices,
        default=Unreviewed.REJECT,
        help_text="What happens to a flagged reward when the deadline passes unreviewed.",
    )

    class Meta:
        verbose_name_plural = "fraud policies"

    def __str__(self) -> str:
        return f"Fraud policy of {self.program}"


class FraudRule(models.Model):
    """A program's choice for one signal: its action and, where it has one, its threshold."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="fraud_rules")
    signal = models.CharField(max_length=30)
    action = models.CharField(max_length=10, choices=Action.choices)
    threshold = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: the signal's default threshold."
    )

    class Meta:
        ordering = ["program", "signal"]
        constraints = [
            models.UniqueConstraint(fields=["program", "signal"], name="fraud_rule_unique_signal"),
        ]

    def __str__(self) -> str:
        return f"{self.signal}: {self.action}"


class Assessment(models.Model):
    """The engine's verdict on a referral (at sign-up) or an order (when it earns)."""

    class Decision(models.TextChoices):
        ALLOW = "allow", "Allowed"
        FLAG = "flag", "Flagged"
        BLOCK = "block", "Blocked"

    class Review(models.TextChoices):
        NONE = "", "No review needed"
        OPEN = "open", "Waiting for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="assessments")
    referral = models.ForeignKey(
        Referral, on_delete=models.PROTECT, null=True, blank=True, related_name="assessments"
    )
    conversion = models.OneToOneField(
        Conversion, on_delete=models.PROTECT, null=True, blank=True, related_name="assessment"
    )
    score = models.PositiveSmallIntegerField(help_text="Risk, 0-100.")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    # [{"signal", "action", "weight", "detail"}], the reasons managers see.
    hits = models.JSONField(default=list, blank=True)
    review = models.CharField(max_length=10, choices=Review.choices, default=Review.NONE)
    review_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["referral"],
                condition=models.Q(conversion__isnull=True),
                name="assessment_one_per_referral",
            ),
        ]

    def __str__(self) -> str:
        subject = f"order {self.conversion.order_id}" if self.conversion_id else "referral"
        return f"{self.get_decision_display()} {subject} (risk {self.score})"

    @property
    def reasons(self) -> str:
        return "; ".join(f"{hit['signal']}: {hit['detail']}" for hit in self.hits)
