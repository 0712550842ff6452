"""Reward rules a program manager defines, and the decision log of their evaluation."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Advocate, Program


class RewardRule(models.Model):
    class Trigger(models.TextChoices):
        SIGNUP = "signup", "Friend signs up"
        FIRST_PURCHASE = "first_purchase", "Friend's first purchase"
        EVERY_PURCHASE = "every_purchase", "Every purchase of the friend"
        MILESTONE = "milestone", "Advocate's Nth successful referral"

    class Recipient(models.TextChoices):
        ADVOCATE = "advocate", "Advocate"
        FRIEND = "friend", "Friend"
        BOTH = "both", "Both (double-sided)"

    class Kind(models.TextChoices):
        CASH = "cash", "Fixed cash"
        COMMISSION = "commission", "Percentage of the order (commission)"
        POINTS = "points", "Points"
        COUPON = "coupon", "Discount coupon"
        PERK = "perk", "Perk (fulfilled by a manager)"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="reward_rules")
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    recipient = models.CharField(max_length=10, choices=Recipient.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount_minor = models.BigIntegerField(
        default=0, help_text="Fixed cash, in minor units of the program's currency."
    )
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Commission: percent of the order amount.",
    )
    points = models.PositiveIntegerField(default=0)
    coupon_percent_off = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="Coupon: percent off."
    )
    coupon_pool = models.ForeignKey(
        "rewards.CouponPool",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text="Coupon: hand out codes from this pool (else a Stripe promotion code, "
        "else the advocate's personal code).",
    )
    stripe_promotion_codes = models.BooleanField(
        default=False,
        help_text="Coupon: create a single-use Stripe promotion code for each reward "
        "(needs STRIPE_API_KEY).",
    )
    stripe_coupon_id = models.CharField(max_length=64, blank=True, editable=False)
    perk_description = models.CharField(max_length=200, blank=True)
    min_order_minor = models.BigIntegerField(
        null=True, blank=True, help_text="Purchases: only orders of at least this amount."
    )
    max_purchases = models.PositiveIntegerField(
        null=True, blank=True, help_text="Every purchase: at most this many purchases per friend."
    )
    max_months = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Every purchase: only within this many months of the first.",
    )
    milestone_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Milestone: the Nth successful referral."
    )
    limit_per_day = models.PositiveIntegerField(null=True, blank=True)
    limit_per_month = models.PositiveIntegerField(null=True, blank=True)
    limit_lifetime = models.PositiveIntegerField(null=True, blank=True)
    hold_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days pending before available; empty: the program's."
    )
    approval_above_minor = models.BigIntegerField(
        null=True, blank=True, help_text="Cash rewards above this need a manager's approval."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gte=0), name="rule_amount_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=100), name="rule_percent_range"
            ),
            models.CheckConstraint(
                condition=~Q(trigger="milestone") | Q(milestone_count__gte=1),
                name="rule_milestone_has_count",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = {}
        if self.kind == self.Kind.CASH and self.amount_minor <= 0:
            errors["amount_minor"] = "A cash reward needs an amount."
        if self.kind == self.Kind.COMMISSION and self.percent <= 0:
            errors["percent"] = "A commission needs a percentage."
        if self.kind == self.Kind.POINTS and self.points <= 0:
            errors["points"] = "A points reward needs a number of points."
        if self.kind == self.Kind.COUPON and not (self.coupon_percent_off or self.coupon_pool_id):
            errors["coupon_percent_off"] = "A coupon needs a percentage or a coupon pool."
        if self.stripe_promotion_codes and (self.coupon_pool_id or not self.coupon_percent_off):
            errors["stripe_promotion_codes"] = (
                "Stripe promotion codes need a percentage and no coupon pool."
            )
        if self.kind == self.Kind.PERK and not self.perk_description:
            errors["perk_description"] = "Describe the perk."
        if self.trigger == self.Trigger.MILESTONE and not self.milestone_count:
            errors["milestone_count"] = "A milestone needs N."
        if self.recipient != self.Recipient.ADVOCATE and self.kind not in (
            self.Kind.COUPON,
            self.Kind.PERK,
        ):
            # A friend has no balance here: friends get coupons or perks.
            errors["kind"] = "Friends can receive coupons or perks only."
        if self.kind == self.Kind.COMMISSION and self.trigger in (
            self.Trigger.SIGNUP,
            self.Trigger.MILESTONE,
        ):
            errors["trigger"] = "A commission needs a purchase trigger."
        if self.trigger == self.Trigger.MILESTONE and self.recipient != self.Recipient.ADVOCATE:
            errors["recipient"] = "Milestones reward the advocate."
        if errors:
            raise ValidationError(errors)

    def recipients(self) -> list[str]:
        if self.recipient == self.Recipient.BOTH:
            return [self.Recipient.ADVOCATE, self.Recipient.FRIEND]
        return [self.recipient]


class RewardDecision(models.Model):
    """Why a rule did or did not reward someone, for every rule evaluated."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        SKIPPED = "skipped", "Skipped"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="reward_decisions")
    rule = models.ForeignKey(RewardRule, on_delete=models.CASCADE, related_name="decisions")
    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, related_name="reward_decisions"
    )
    event = models.CharField(max_length=20)
    referral = models.ForeignKey(
        "referrals.Referral", on_delete=models.CASCADE, null=True, blank=True
    )
    conversion = models.ForeignKey(
        "referrals.Conversion", on_delete=models.CASCADE, null=True, blank=True
    )
    recipient = models.CharField(max_length=10)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=300)
    reward = models.ForeignKey("rewards.Reward", on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule}: {self.outcome} ({self.reason})"
