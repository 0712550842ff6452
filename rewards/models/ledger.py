"""Rewards and the append-only ledger that holds every advocate's balances.

A reward is a claim with a life cycle (pending -> available -> paid, or
reversed). Each transition appends ledger entries that move money between
buckets; balances are sums of entries, never a stored number.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Advocate, Program
from referrals.models import Conversion, Referral

POINTS_CURRENCY = "PTS"


class Reward(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        AVAILABLE = "available", "Available"
        PAID = "paid", "Paid"
        REVERSED = "reversed", "Reversed"
        ISSUED = "issued", "Issued (coupon delivered)"
        FULFILLED = "fulfilled", "Fulfilled (perk)"

    class Recipient(models.TextChoices):
        ADVOCATE = "advocate", "Advocate"
        FRIEND = "friend", "Friend"

    class Kind(models.TextChoices):
        CASH = "cash", "Cash"
        POINTS = "points", "Points"
        COUPON = "coupon", "Coupon"
        PERK = "perk", "Perk"

    BALANCE_KINDS = (Kind.CASH, Kind.POINTS)

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="rewards")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="rewards")
    conversion = models.ForeignKey(
        Conversion, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    referral = models.ForeignKey(
        Referral, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    rule = models.ForeignKey(
        "rewards.RewardRule",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
    )
    recipient = models.CharField(
        max_length=10, choices=Recipient.choices, default=Recipient.ADVOCATE
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CASH)
    amount_minor = models.BigIntegerField()
    reversed_minor = models.BigIntegerField(default=0)
    currency = models.CharField(
        max_length=3, blank=True, help_text="ISO currency, or PTS for points."
    )
    coupon_code = models.CharField(max_length=60, blank=True)
    coupon_percent_off = models.PositiveSmallIntegerField(default=0)
    perk_description = models.CharField(max_length=200, blank=True)
    perk = models.ForeignKey(
        "rewards.Perk",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text="The perk this reward delivers (a link or code, e.g. early access).",
    )
    payout = models.ForeignKey(
        "rewards.Payout",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text="The payout holding this cash reward's money.",
    )
    requires_approval = models.BooleanField(default=False)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    available_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0) | Q(kind__in=["coupon", "perk"]),
                name="reward_amount_pos",
            ),
            models.CheckConstraint(
                condition=Q(amount_minor__gte=0), name="reward_amount_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(reversed_minor__gte=0)
                & Q(reversed_minor__lte=models.F("amount_minor")),
                name="reward_reversed_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "available_at"]),
            # A day's reward cost (the live day's reads, each day's rollup rebuild).
            models.Index(fields=["program", "created_at"], name="reward_program_created"),
        ]

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
        IN_PAYOUT = "in_payout", "In a payout being sent"
        PAID = "paid", "Paid"

    class Kind(models.TextChoices):
        REWARD_ISSUED = "reward_issued", "Reward issued"
        REWARD_MATURED = "reward_matured", "Reward became available"
        REWARD_REVERSED = "reward_reversed", "Reward reversed"
        CLAWBACK = "clawback", "Paid reward clawed back"
        PAYOUT = "payout", "Payout"
        PAYOUT_RETURNED = "payout_returned", "Failed payout returned"
        REDEMPTION = "redemption", "Points redeemed"
        REDEMPTION_REFUNDED = "redemption_refunded", "Redemption refunded"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="ledger_entries")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="ledger_entries")
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    redemption = models.ForeignKey(
        "rewards.Redemption",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
    )
    payout = models.ForeignKey(
        "rewards.Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
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
            models.CheckConstraint(
                condition=Q(reward__isnull=False)
                | Q(redemption__isnull=False)
                | Q(payout__isnull=False)
                | Q(kind="adjustment"),
                name="ledger_entry_has_cause",
            ),
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
