"""Rewards and the append-only ledger that holds every advocate's balances.

A reward is a claim with a life cycle (pending -> available -> paid, or
reversed). Each transition appends ledger entries that move money between
buckets; balances are sums of entries, never a stored number.
"""

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Advocate, Program
from referrals.models import Conversion, Referral


class Reward(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        AVAILABLE = "available", "Available"
        PAID = "paid", "Paid"
        REVERSED = "reversed", "Reversed"

    class Recipient(models.TextChoices):
        ADVOCATE = "advocate", "Advocate"
        FRIEND = "friend", "Friend"

    class Kind(models.TextChoices):
        CASH = "cash", "Cash"
        POINTS = "points", "Points"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="rewards")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="rewards")
    conversion = models.ForeignKey(
        Conversion, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    referral = models.ForeignKey(
        Referral, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    recipient = models.CharField(
        max_length=10, choices=Recipient.choices, default=Recipient.ADVOCATE
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CASH)
    amount_minor = models.BigIntegerField()
    reversed_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, help_text="ISO currency, or PTS for points.")
    reason = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    available_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="reward_amount_pos"),
            models.CheckConstraint(
                condition=Q(reversed_minor__gte=0)
                & Q(reversed_minor__lte=models.F("amount_minor")),
                name="reward_reversed_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["status", "available_at"])]

    def __str__(self) -> str:
        return f"{self.reason} ({self.status})"

    @property
    def remaining_minor(self) -> int:
        return self.amount_minor - self.reversed_minor


class LedgerEntry(models.Model):
    """One append-only movement of an advocate's money or points."""

    class Bucket(models.TextChoices):
        PENDING = "pending", "Pending"
        AVAILABLE = "available", "Available"
        PAID = "paid", "Paid"

    class Kind(models.TextChoices):
        REWARD_ISSUED = "reward_issued", "Reward issued"
        REWARD_MATURED = "reward_matured", "Reward became available"
        REWARD_REVERSED = "reward_reversed", "Reward reversed"
        CLAWBACK = "clawback", "Paid reward clawed back"
        PAYOUT = "payout", "Payout"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="ledger_entries")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="ledger_entries")
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    bucket = models.CharField(max_length=10, choices=Bucket.choices)
    amount_minor = models.BigIntegerField(help_text="Signed: credits positive, debits negative.")
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=200, unique=True)
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=~Q(amount_minor=0), name="ledger_amount_nonzero"),
        ]
        indexes = [models.Index(fields=["advocate", "currency", "bucket"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_minor} {self.currency} ({self.bucket})"

    def save(self, *args, **kwargs):
        # The ledger is append-only: a correction is a new, compensating entry.
        if self.pk is not None and not self._state.adding:
            raise PermissionDenied("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("Ledger entries are append-only.")
