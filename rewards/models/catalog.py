"""The points catalog and advocates' redemptions."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Advocate, Program


class CatalogItem(models.Model):
    class Kind(models.TextChoices):
        COUPON = "coupon", "Coupon code (from a pool)"
        PERK = "perk", "Perk (fulfilled by a manager)"
        STORE_CREDIT = "store_credit", "Store credit (fulfilled by a manager)"
        EARLY_ACCESS = "early_access", "Early access or another perk (delivered at once)"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="catalog_items")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=15, choices=Kind.choices)
    points_price = models.PositiveIntegerField()
    coupon_pool = models.ForeignKey(
        "rewards.CouponPool", on_delete=models.PROTECT, null=True, blank=True
    )
    perk = models.ForeignKey(
        "rewards.Perk",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text="Early access: the perk the advocate gets (its link or code).",
    )
    store_credit_minor = models.BigIntegerField(default=0)
    stock = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["points_price", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points_price__gt=0), name="catalog_price_pos"),
            models.CheckConstraint(
                condition=~Q(kind="coupon") | Q(coupon_pool__isnull=False),
                name="catalog_coupon_has_pool",
            ),
            models.CheckConstraint(
                condition=~Q(kind="early_access") | Q(perk__isnull=False),
                name="catalog_early_access_has_perk",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points_price} points)"


class Redemption(models.Model):
    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        AWAITING_FULFILMENT = "awaiting_fulfilment", "Awaiting fulfilment"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELLED = "cancelled", "Cancelled (points returned)"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="redemptions")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="redemptions")
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="redemptions")
    points = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices)
    coupon_code = models.CharField(max_length=60, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="redemption_points_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.item.name} for {self.advocate}"
