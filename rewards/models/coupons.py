"""Coupon codes handed to friends and to advocates redeeming points."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Program


class CouponPool(models.Model):
    """Codes a manager imports from a CSV file; each is handed out once."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="coupon_pools")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=200, blank=True, help_text="e.g. 10% off")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CouponCode(models.Model):
    pool = models.ForeignKey(CouponPool, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(max_length=60)
    assigned_at = models.DateTimeField(null=True, blank=True)
    reward = models.OneToOneField(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon",
    )
    redemption = models.OneToOneField(
        "rewards.Redemption",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["pool", "code"], name="coupon_unique_code_in_pool"),
            models.CheckConstraint(
                condition=(Q(reward__isnull=True) & Q(redemption__isnull=True))
                | Q(assigned_at__isnull=False),
                name="coupon_assigned_has_time",
            ),
        ]
        indexes = [models.Index(fields=["pool", "assigned_at"])]

    def __str__(self) -> str:
        return self.code
