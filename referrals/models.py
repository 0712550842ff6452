"""Referral links, the clicks on them, referred friends and their purchases."""

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from advocacy.models import Advocate, Program
from core.money import CURRENCY_CHOICES


class ReferralLink(models.Model):
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="links")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="links")
    code = models.CharField(max_length=32, unique=True)
    channel = models.CharField(max_length=30, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code


class Click(models.Model):
    # The id is made by the redirect itself, so it can go into the landing URL
    # before (or without waiting for) the row being written.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="clicks")
    link = models.ForeignKey(ReferralLink, on_delete=models.PROTECT, related_name="clicks")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="clicks")
    channel = models.CharField(max_length=30, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    placement = models.CharField(
        max_length=40, blank=True, help_text="Where the link was shown (referrals.placements)."
    )
    referrer_host = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The host of the page the link was clicked on (its Referer), if the "
        "browser sent one: coupon sites are a fraud signal.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["advocate", "created_at"]),
            # Measurement counts the live days (yesterday, today) of one program.
            models.Index(fields=["program", "created_at"], name="click_program_created"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class Referral(models.Model):
    """A friend an advocate brought in."""

    class Status(models.TextChoices):
        SIGNED_UP = "signed_up", "Signed up"
        CONVERTED = "converted", "Converted"
        REJECTED = "rejected", "Rejected"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="referrals")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="referrals")
    link = models.ForeignKey(ReferralLink, on_delete=models.PROTECT, null=True, blank=True)
    click = models.ForeignKey(Click, on_delete=models.PROTECT, null=True, blank=True)
    friend_email = models.EmailField(max_length=254, blank=True)
    friend_email_normalized = models.CharField(max_length=254, blank=True)
    friend_external_id = models.CharField(max_length=120, null=True, blank=True)
    friend_name = models.CharField(max_length=120, blank=True)
    placement = models.CharField(
        max_length=40,
        blank=True,
        help_text="Where the referral started: its click's placement, or name_lookup.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SIGNED_UP)
    rejection_reason = models.CharField(max_length=200, blank=True)
    verified = models.BooleanField(
        default=True,
        help_text="False: sent from a browser (publishable key) without a click on the "
        "advocate's link. It earns nothing by itself and yields to a verified referral.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Measurement counts one program's referrals of a period.
        indexes = [models.Index(fields=["program", "created_at"], name="referral_program_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "friend_email_normalized"],
                condition=~Q(friend_email_normalized=""),
                name="referral_unique_friend_email",
            ),
            models.UniqueConstraint(
                fields=["program", "friend_external_id"],
                condition=Q(friend_external_id__isnull=False),
                name="referral_unique_friend_external_id",
            ),
            models.CheckConstraint(
                condition=~Q(friend_email_normalized="") | Q(friend_external_id__isnull=False),
                name="referral_identifies_friend",
            ),
        ]

    def __str__(self) -> str:
        return self.friend_email or self.friend_external_id or f"referral {self.pk}"

    @property
    def is_rewardable(self) -> bool:
        return self.status != self.Status.REJECTED


class Conversion(models.Model):
    """A purchase reported by the merchant, attributed to an advocate or not."""

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    class Method(models.TextChoices):
        CLICK = "click", "Click id"
        REFERRAL_CODE = "referral_code", "Referral code"
        COUPON = "coupon", "Advocate's coupon code"
        REFERRED_CUSTOMER = "referred_customer", "Known referred customer"
        NAME_LOOKUP = "name_lookup", "Advocate picked by name at checkout"
        MANUAL = "manual", "Set by a manager"
        NONE = "none", "Not attributed"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="conversions")
    order_id = models.CharField(max_length=120)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    refunded_minor = models.BigIntegerField(default=0)
    customer_email = models.EmailField(max_length=254, blank=True)
    customer_email_normalized = models.CharField(max_length=254, blank=True)
    customer_external_id = models.CharField(max_length=120, blank=True)
    referral = models.ForeignKey(
        Referral, on_delete=models.PROTECT, null=True, blank=True, related_name="conversions"
    )
    advocate = models.ForeignKey(
        Advocate, on_delete=models.PROTECT, null=True, blank=True, related_name="conversions"
    )
    click = models.ForeignKey(Click, on_delete=models.PROTECT, null=True, blank=True)
    attributed = models.BooleanField(default=False)
    attribution_method = models.CharField(
        max_length=20, choices=Method.choices, default=Method.NONE
    )
    attribution_reason = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETED)
    source = models.CharField(max_length=10, default="api", help_text="api or stripe")
    backfill = models.BooleanField(
        default=False,
        help_text="History sent by POST /api/v1/conversions/bulk with backfill: counted by "
        "measurement and advocate identification, never attributed or rewarded.",
    )
    stripe_payment_intent = models.CharField(max_length=100, blank=True, db_index=True)
    payment_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="Card fingerprint (Stripe), to spot self-referrals."
    )
    request_fingerprint = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["program", "order_id"], name="conversion_unique_order"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="conversion_amount_pos"),
            models.CheckConstraint(
                condition=Q(refunded_minor__gte=0) & Q(refunded_minor__lte=F("amount_minor")),
                name="conversion_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(attributed=False) | Q(advocate__isnull=False),
                name="conversion_attributed_has_advocate",
            ),
        ]
        indexes = [
            # Measurement counts one program's orders of a period (by when they happened).
            models.Index(fields=["program", "occurred_at"], name="conversion_program_occurred"),
            # A customer's orders (advocate scores, segments, the customer API): without
            # these, every rescored batch of 1,000 customers read all the program's orders.
            models.Index(
                fields=["program", "customer_external_id"], name="conversion_customer_ext"
            ),
            models.Index(
                fields=["program", "customer_email_normalized"], name="conversion_customer_email"
            ),
        ]

    def __str__(self) -> str:
        return self.order_id


class StripePayment(models.Model):
    """A card fingerprint seen on a Stripe charge, kept for conversions recorded later."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE)
    payment_intent = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "payment_intent"], name="stripe_payment_unique_intent"
            ),
        ]

    def __str__(self) -> str:
        return self.payment_intent


class Refund(models.Model):
    conversion = models.ForeignKey(Conversion, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_pos"),
            models.UniqueConstraint(
                fields=["conversion", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="refund_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"refund of {self.amount_minor} on conversion {self.conversion_id}"


class IdempotencyRecord(models.Model):
    """A request made with an ``Idempotency-Key`` header: claimed first, then its answer.

    No status yet means the request is in flight.
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "key"], name="idempotency_unique_key"),
        ]

    def __str__(self) -> str:
        return self.key
