"""Cash payouts to advocates through Stripe Connect."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Advocate, Program


class PayoutAccount(models.Model):
    """An advocate's Stripe Connect Express account."""

    advocate = models.OneToOneField(
        Advocate, on_delete=models.CASCADE, related_name="payout_account"
    )
    stripe_account_id = models.CharField(max_length=64, unique=True)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.stripe_account_id


class Payout(models.Model):
    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        PENDING = "pending", "Pending (queued to send)"
        SENDING = "sending", "Sending to Stripe"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed (money returned)"
        REVERSED = "reversed", "Reversed by Stripe (money returned)"

    OPEN = (Status.AWAITING_APPROVAL, Status.PENDING, Status.SENDING)

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="payouts")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="payouts")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices)
    stripe_account_id = models.CharField(max_length=64)
    stripe_transfer_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    failure_reason = models.CharField(max_length=300, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payout_amount_pos"),
            # One open payout per advocate and currency: grouping twice is impossible.
            models.UniqueConstraint(
                fields=["advocate", "currency"],
                condition=Q(status__in=["awaiting_approval", "pending", "sending"]),
                name="payout_one_open_per_advocate_currency",
            ),
            models.UniqueConstraint(
                fields=["stripe_transfer_id"],
                condition=~Q(stripe_transfer_id=""),
                name="payout_unique_transfer",
            ),
        ]

    def __str__(self) -> str:
        return f"payout {self.pk} of {self.amount_minor} {self.currency} ({self.status})"

    @property
    def stripe_idempotency_key(self) -> str:
        # Derived from our own row id: every retry of this payout is the same transfer.
        return f"advocacy-payout-{self.pk}"
